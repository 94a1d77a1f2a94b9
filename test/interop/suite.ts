/**
 * Sprig ⇄ Python Celery 5.2 interop, the same scenarios on Redis and on RabbitMQ:
 *   1. a Python client (apply_async, send_task) → a Sprig worker → AsyncResult.get() in Python
 *   2. a Sprig client (sendTask) → a Celery worker: result, failure, retried task
 *   3. events: `celery events --dump` sees a Sprig worker; Sprig's reader sees a Celery worker
 *   4. remote control: `celery inspect ping/active` → Sprig; `sprig inspect ping/active` → Celery
 *   5. names (`proj.tasks.*` answered by Sprig) and queue routing both ways (1 and 2)
 *   6. revoke and expiry from Python of tasks waiting for a Sprig pool slot; `celery inspect query_task`
 *   7. values and metadata as Python sees them (issue 13): 64-bit integers in msgpack and JSON, YAML
 *      as PyYAML writes it, Celery's exception classes for time limits, group_id and date_done in
 *      the stored result, headers the task can read
 *   8. `celery control add_consumer` / `cancel_consumer` on a Sprig worker
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { TaskError } from '../../runtime/src/index.js';
import { ClusterState } from '../../runtime/src/events/state.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { AMQP_PLAIN_URL, escapeRe, PYTHON, PYAPP, REDIS_URL, sleep, spawnProc, until, World, type BrokerKind, type PyCall, type PyResult } from './helpers.js';

interface Info {
  id: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  retries: number;
  hostname: string;
  ranAt: number;
  seq: number;
}

/** The last JSON line Celery's `-j` printed. */
function celeryJson(output: string): Record<string, unknown> {
  const line = output
    .split('\n')
    .reverse()
    .find((l) => l.trim().startsWith('{'));
  assert.ok(line, `no JSON in celery's output:\n${output}`);
  return JSON.parse(line) as Record<string, unknown>;
}

async function storedMeta(id: string): Promise<Record<string, unknown> | null> {
  const r = new Redis(REDIS_URL);
  try {
    const raw = await r.get(`celery-task-meta-${id}`);
    return raw ? (JSON.parse(raw) as Record<string, unknown>) : null;
  } finally {
    r.disconnect();
  }
}

export function interopSuite(kind: BrokerKind): void {
  describe(`Python Celery 5.2 <-> Sprig on ${kind === 'redis' ? 'Redis' : 'RabbitMQ'}`, () => {
    const w = new World(kind);

    const sprigWorker = async () => {
      w.sprigWorker ??= w.startSprigWorker();
      await w.sprigWorkerReady(w.sprigWorker);
      return w.sprigWorker;
    };
    const celeryWorker = async () => {
      w.celeryWorker ??= w.startCeleryWorker();
      await w.celeryWorkerReady(w.celeryWorker);
      return w.celeryWorker;
    };

    // The Celery worker takes ~1.3 s to start: let it boot while test 1 runs.
    before(() => {
      w.celeryWorker = w.startCeleryWorker();
    });
    after(() => w.cleanup());

    test('1+5. a Python client (apply_async, send_task) -> a Sprig worker answering proj.tasks.*; AsyncResult.get() in Python', async () => {
      const customId = `py-${randomUUID()}`;
      // kombu on Redis serves priority 0 first; RabbitMQ serves the highest first.
      const prio = kind === 'redis' ? { first: 0, middle: 5, last: 9 } : { first: 9, middle: 5, last: 0 };
      const calls: PyCall[] = [
        { key: 'add', name: 'proj.tasks.add', args: [2, 3] },
        { key: 'kwargs', name: 'proj.tasks.add', args: [2], kwargs: { y: 40 } },
        { key: 'sendTask', mode: 'send_task', name: 'proj.tasks.info', args: [7, 'x'], kwargs: { flag: true } },
        { key: 'custom', name: 'proj.tasks.info', args: [1], options: { task_id: customId, retries: 2 } },
        { key: 'countdown', name: 'proj.tasks.info', options: { countdown: 1.5 } },
        { key: 'eta', name: 'proj.tasks.info', options: { eta_in: 1.5 } },
        // Due after it expires: the worker revokes it. (On RabbitMQ `expires` is also the message
        // TTL, so it must outlast the worker's start for the worker to see the message at all.)
        { key: 'expires', name: 'proj.tasks.info', options: { countdown: 4, expires: 3 } },
        { key: 'fail', name: 'proj.tasks.fail', args: ['bad input'] },
        { key: 'retry', name: 'proj.tasks.flaky', args: [21] },
        { key: 'routed', name: 'proj.tasks.info', args: ['alt'], options: { queue: w.queues.sprigAlt } },
        // Sent in the wrong order before the worker runs: priorities must reorder them.
        { key: 'last', name: 'proj.tasks.order', args: ['last'], options: { priority: prio.last, queue: w.queues.sprigAlt } },
        { key: 'middle', name: 'proj.tasks.order', args: ['middle'], options: { priority: prio.middle, queue: w.queues.sprigAlt } },
        { key: 'first', name: 'proj.tasks.order', args: ['first'], options: { priority: prio.first, queue: w.queues.sprigAlt } },
      ];
      const { sent, results } = await w.pyClient(calls, {
        timeout: 25,
        // Everything is queued before the Sprig worker starts.
        onSent: () => {
          w.sprigWorker = w.startSprigWorker();
        },
      });
      const ok = (key: string) => {
        const r = results[key]!;
        assert.equal(r.state, 'SUCCESS', `${key}: ${JSON.stringify(r)}\n${w.sprigWorker?.tail()}`);
        return r.result;
      };
      assert.equal(ok('add'), 5);
      assert.equal(ok('kwargs'), 42, 'kwargs reach the JS function as a last object argument');

      const st = ok('sendTask') as Info;
      assert.deepEqual(st.args, [7, 'x']);
      assert.deepEqual(st.kwargs, { flag: true });
      assert.equal(st.hostname, w.sprigHost);
      assert.equal(st.id, sent.sendTask!.id);

      const custom = ok('custom') as Info;
      assert.equal(custom.id, customId);
      assert.equal(results.custom!.id, customId);
      assert.equal(custom.retries, 2, 'the retries header is honoured');

      for (const key of ['countdown', 'eta']) {
        const r = ok(key) as Info;
        const due = sent[key]!.sent_at + 1.5;
        assert.ok(r.ranAt >= due - 0.05, `${key}: ran at ${r.ranAt}, due at ${due}`);
      }

      assert.equal(results.expires!.state, 'REVOKED');
      assert.equal(results.expires!.exc_type, 'TaskRevokedError');

      assert.equal(results.fail!.state, 'FAILURE');
      assert.equal(results.fail!.exc_type, 'TypeError', 'a JS TypeError is re-raised as builtins.TypeError');
      assert.equal(results.fail!.exc_module, 'builtins');
      assert.deepEqual(results.fail!.exc_args, ['bad input']);

      assert.deepEqual(ok('retry'), { value: 42, retries: 1 });
      assert.equal(results.retry!.retries, 1, 'AsyncResult.retries');

      const routed = ok('routed') as Info;
      assert.deepEqual(routed.args, ['alt']);
      assert.equal((await storedMeta(routed.id))?.queue, w.queues.sprigAlt, 'apply_async(queue=...) routes to that queue');

      const order = ['first', 'middle', 'last'].map((k) => (ok(k) as { seq: number }).seq);
      assert.ok(order[0]! < order[1]! && order[1]! < order[2]!, `priorities honoured: first/middle/last ran as ${order.join('/')}`);
    });

    test('2+5. a Sprig client (sendTask) -> a Celery worker: result, failure, retried task, custom id and queue', async () => {
      await celeryWorker();
      const app = w.app();
      const add = app.sendTask('app.add', [2, 3]);
      const fail = app.sendTask('app.fail', ['nope']);
      const flaky = app.sendTask('app.flaky', [21]);
      const customId = `sprig-${randomUUID()}`;
      const info = app.sendTask('app.info', [1, 'two'], { three: 3 }, { taskId: customId, queue: w.queues.pyAlt, countdown: 0.3, priority: 3 });
      for (const r of [add, fail, flaky, info]) w.taskIds.add(r.id);

      assert.equal(await add.get({ timeout: 15 }), 5);
      await assert.rejects(fail.get({ timeout: 15 }), (err: unknown) => {
        assert.ok(err instanceof TaskError, String(err));
        assert.equal(err.excType, 'ValueError');
        assert.equal(err.excModule, 'builtins');
        assert.deepEqual(err.excMessage, ['nope']);
        assert.match(err.traceback ?? '', /ValueError: nope/);
        return true;
      });
      assert.deepEqual(await flaky.get({ timeout: 15 }), { value: 42, retries: 1 });
      const got = (await info.get({ timeout: 15 })) as Record<string, unknown>;
      assert.equal(got.id, customId);
      assert.deepEqual(got.args, [1, 'two']);
      assert.deepEqual(got.kwargs, { three: 3 });
      assert.equal(got.queue, w.queues.pyAlt, 'sendTask(..., { queue }) routes to that queue');
      assert.equal(got.hostname, w.pyHost);
    });

    test('3a. `celery events --dump` sees the Sprig worker and its tasks', async () => {
      await sprigWorker();
      const dump = w.track(spawnProc('celery events --dump', PYTHON, ['-m', 'celery', '-A', 'app', 'events', '--dump'], { cwd: PYAPP, env: w.pyEnv(w.queues.sprig) }));
      const host = escapeRe(w.sprigHost);
      // Heartbeats come every 2 s: once one is shown, the receiver is listening.
      await dump.waitFor(new RegExp(`^${host} \\[.*\\] heartbeat: .*sw_ident=sprig`, 'm'), 10_000, 'a Sprig worker heartbeat');
      const app = w.app({ defaultQueue: w.queues.sprig });
      const add = app.sendTask('proj.tasks.add', [20, 22]);
      const fail = app.sendTask('proj.tasks.fail', ['for the monitor']);
      for (const r of [add, fail]) w.taskIds.add(r.id);
      assert.equal(await add.get({ timeout: 30 }), 42);
      await assert.rejects(fail.get({ timeout: 30 }), TaskError);
      for (const [what, id] of [
        ['task received: proj\\.tasks\\.add', add.id],
        ['task started: proj\\.tasks\\.add', add.id],
        ['task succeeded: proj\\.tasks\\.add', add.id],
        ['task failed: proj\\.tasks\\.fail', fail.id],
      ] as const) {
        await dump.waitFor(new RegExp(`^${host} \\[.*\\] ${what}\\(${escapeRe(id)}\\)`, 'm'), 5000, what.replace(/\\/g, ''));
      }
      assert.match(dump.output, new RegExp(`task succeeded: proj\\.tasks\\.add\\(${escapeRe(add.id)}\\).* result=42`));
      await dump.stop('SIGINT');
    });

    test("3b. Sprig's event reader sees the Celery worker and its tasks", async () => {
      await celeryWorker();
      const app = w.app();
      const state = new ClusterState();
      const seen: SprigEvent[] = [];
      const off = await (await app.broker()).subscribeEvents((e) => {
        seen.push(e);
        state.apply(e);
      });
      try {
        await until(() => state.workers.get(w.pyHost)?.online, 10_000, 'a heartbeat from the Celery worker');
        const worker = state.workers.get(w.pyHost)!;
        assert.equal(worker.swIdent, 'py-celery');
        assert.match(worker.swVer, /^5\.2\./);
        const add = app.sendTask('app.add', [4, 5]);
        const fail = app.sendTask('app.fail', ['seen']);
        for (const r of [add, fail]) w.taskIds.add(r.id);
        assert.equal(await add.get({ timeout: 30 }), 9);
        await assert.rejects(fail.get({ timeout: 30 }), TaskError);
        const trail = (id: string) => JSON.stringify(seen.filter((e) => 'uuid' in e && e.uuid === id), null, 1);
        const a = await until(() => (state.tasks.get(add.id)?.state === 'SUCCESS' ? state.tasks.get(add.id) : undefined), 5000, 'task-succeeded from Celery').catch((err: Error) => {
          throw new Error(`${err.message}; state ${JSON.stringify(state.tasks.get(add.id))}; events ${trail(add.id)}`);
        });
        assert.equal(a.name, 'app.add');
        assert.equal(a.worker, w.pyHost);
        assert.equal(a.result, '9');
        const f = await until(() => (state.tasks.get(fail.id)?.state === 'FAILURE' ? state.tasks.get(fail.id) : undefined), 5000, 'task-failed from Celery');
        assert.equal(f.name, 'app.fail');
        assert.match(f.exception ?? '', /ValueError|ExceptionWithTraceback/);
        const types = new Set(seen.filter((e) => 'uuid' in e && e.uuid === add.id).map((e) => e.type));
        assert.deepEqual([...types].sort(), ['task-received', 'task-started', 'task-succeeded']);
      } finally {
        await off();
      }
    });

    test('4a. `celery inspect ping` and `celery inspect active` get replies from the Sprig worker', async () => {
      await sprigWorker();
      const ping = await w.celery(['inspect', 'ping', '-d', w.sprigHost]);
      assert.equal(ping.code, 0, ping.output);
      assert.match(ping.output, new RegExp(`->  ${escapeRe(w.sprigHost)}: OK\\s+pong`));
      const pingJson = await w.celery(['inspect', 'ping', '-d', w.sprigHost, '-j']);
      assert.deepEqual(celeryJson(pingJson.output), { [w.sprigHost]: { ok: 'pong' } });

      const app = w.app({ defaultQueue: w.queues.sprig });
      const slow = app.sendTask('proj.tasks.sleep', [3000]);
      w.taskIds.add(slow.id);
      await slow.sent;
      const active = await until(
        async () => {
          const r = await w.celery(['inspect', 'active', '-d', w.sprigHost, '-j']);
          const list = (celeryJson(r.output)[w.sprigHost] ?? []) as Array<Record<string, unknown>>;
          return list.find((t) => t.id === slow.id);
        },
        10_000,
        '`celery inspect active` to list the running task',
      );
      assert.equal(active.name, 'proj.tasks.sleep');
      assert.deepEqual(active.args, [3000]);
      assert.equal(active.hostname, w.sprigHost);
      assert.equal(typeof active.time_start, 'number');
      assert.equal(typeof active.worker_pid, 'number');
      assert.equal(await slow.get({ timeout: 30 }), 3000);
    });

    test('4b. `sprig inspect ping` and `sprig inspect active` get replies from the Celery worker', async () => {
      await celeryWorker();
      const ping = await w.sprig(['inspect', 'ping', '-d', w.pyHost]);
      assert.equal(ping.code, 0, ping.output);
      assert.match(ping.output, new RegExp(`->  ${escapeRe(w.pyHost)}: OK\\s+pong`));
      const pingJson = await w.sprig(['inspect', 'ping', '-d', w.pyHost, '--json']);
      assert.deepEqual(JSON.parse(pingJson.output.trim().split('\n').pop()!), [{ [w.pyHost]: { ok: 'pong' } }]);

      const app = w.app();
      const slow = app.sendTask('app.sleep', [2]);
      w.taskIds.add(slow.id);
      await slow.sent;
      const active = await until(
        async () => {
          const replies = await app.control.inspect('active', { destination: [w.pyHost], timeout: 2 });
          const list = (replies.find((r) => w.pyHost in r)?.[w.pyHost] ?? []) as Array<Record<string, unknown>>;
          return list.find((t) => t.id === slow.id);
        },
        10_000,
        'the Celery worker to list the running task',
      );
      assert.equal(active.name, 'app.sleep');
      assert.deepEqual(active.args, [2]);
      assert.equal(active.hostname, w.pyHost);
      assert.equal(await slow.get({ timeout: 30 }), 2);
    });

    test(
      'a Celery worker with default settings (no task_queue_max_priority) serves a queue a Sprig client with default settings created first',
      async () => {
        const q = w.queue();
        const app = w.app({ defaultQueue: q, brokerUrl: kind === 'amqp' ? AMQP_PLAIN_URL : undefined });
        const add = app.sendTask('app.add', [2, 3]);
        w.taskIds.add(add.id);
        await add.sent;
        const host = `py-default-${w.id}@interop`;
        const worker = w.startCeleryWorker({ queues: [q], hostname: host, env: { INTEROP_MAX_PRIORITY: '' } });
        try {
          await w.celeryWorkerReady(worker, host, 15_000);
          assert.equal(await add.get({ timeout: 30 }), 5);
        } finally {
          await worker.stop();
        }
      },
    );

    test('6. tasks revoked (AsyncResult.revoke()) or expired while they wait for a slot of a Sprig process pool of 2 end REVOKED in Python and never run; `celery inspect query_task`', async () => {
      const q = w.queue();
      const host = `sprig-waiting-${w.id}@interop`;
      const worker = w.startSprigWorker({ queues: [q], hostname: host, pool: ['-P', 'process', '-c', '2'] });
      const gate = path.join(os.tmpdir(), `sprig-gate-${randomUUID()}`);
      try {
        await w.sprigWorkerReady(worker);
        // Tasks 1 and 2 hold the two slots until the gate opens; task 6 is revoked and task 8
        // expires meanwhile, both waiting in the worker (in a pool child's batch, here).
        const py = w.pyScript('revoke_waiting.py', { host, gate, ms: 300, n: 10, revoke: 5, expire: 7, expires: 2.5, timeout: 40 }, q);
        const step = async <T>(key: string): Promise<T> => {
          const m = await py.waitFor(new RegExp(`^\\{"(${key}|error)": .*$`, 'm'), 30_000, `the Python script's ${key}`);
          const v = JSON.parse(m[0]) as Record<string, unknown>;
          assert.ok(!('error' in v), `${m[0]}\n${worker.tail()}`);
          return v[key] as T;
        };
        const sent = await step<{ ids: string[]; expires_at: number }>('sent');
        const ids = sent.ids;
        for (const id of ids) w.taskIds.add(id);
        const held = await step<Record<string, Record<string, [string, { id: string }]>>>('held');
        assert.deepEqual(Object.keys(held[host]!).sort(), [ids[0]!, ids[5]!, ids[7]!].sort());
        assert.deepEqual([held[host]![ids[5]!]![0], held[host]![ids[7]!]![0]], ['reserved', 'reserved']);
        await step('revoked');

        const cli = await w.celery(['inspect', 'query_task', ids[0]!, ids[5]!, '-d', host, '-j']);
        assert.equal(cli.code, 0, cli.output);
        const reply = celeryJson(cli.output) as Record<string, Record<string, [string, Record<string, unknown>]>>;
        assert.deepEqual(Object.keys(reply), [host]);
        assert.deepEqual(Object.keys(reply[host]!).sort(), [ids[0]!, ids[5]!].sort());
        const [runningState, running] = reply[host]![ids[0]!]!;
        const [waitingState, waiting] = reply[host]![ids[5]!]!;
        assert.equal(runningState, 'active');
        assert.equal(waitingState, 'reserved');
        for (const [info, id] of [
          [running, ids[0]],
          [waiting, ids[5]],
        ] as const) {
          assert.deepEqual(Object.keys(info).sort(), ['acknowledged', 'args', 'delivery_info', 'hostname', 'id', 'kwargs', 'name', 'time_start', 'type', 'worker_pid']);
          assert.equal(info.id, id);
          assert.equal(info.name, 'proj.tasks.gated');
          assert.deepEqual(info.args, [gate, 300]);
          assert.equal(info.hostname, host);
        }
        assert.equal(typeof running.time_start, 'number');
        assert.equal(waiting.time_start, null);

        // Celery's meanings under prefetch: active = running now, one per slot, with the pid of the
        // child running it; the others are reserved.
        const act = await w.celery(['inspect', 'active', '-d', host, '-j']);
        const activeList = celeryJson(act.output)[host] as Array<Record<string, unknown>>;
        assert.deepEqual(activeList.map((t) => t.id).sort(), [ids[0]!, ids[1]!].sort(), act.output);
        const pids = activeList.map((t) => t.worker_pid);
        assert.ok(pids.every((p) => typeof p === 'number' && p !== worker.proc.pid) && pids[0] !== pids[1], `worker_pid of two pool children, not the worker's ${worker.proc.pid}: ${pids.join(', ')}`);
        assert.equal(running.worker_pid, activeList.find((t) => t.id === ids[0])!.worker_pid, 'query_task agrees');

        await sleep(Math.max(0, sent.expires_at * 1000 - Date.now()) + 100);
        fs.writeFileSync(gate, '');
        const results = await step<PyResult[]>('results');
        for (const [i, r] of results.entries()) {
          if (i === 5 || i === 7) {
            assert.equal(r.state, 'REVOKED', `task ${i + 1}: ${JSON.stringify(r)}`);
            assert.equal(r.exc_type, 'TaskRevokedError');
            assert.equal(r.exc_module, 'celery.exceptions');
            assert.deepEqual(r.exc_args, [i === 5 ? 'revoked' : 'expired']);
          } else assert.deepEqual([r.state, r.result], ['SUCCESS', 300], `task ${i + 1}: ${JSON.stringify(r)}`);
        }
        const ran = fs.readFileSync(`${gate}.ran`, 'utf8').trim().split('\n').sort();
        assert.deepEqual(ran, ids.filter((_, i) => i !== 5 && i !== 7).sort(), 'exactly the other eight ran');
      } finally {
        await worker.stop();
        for (const f of [gate, `${gate}.ran`]) fs.rmSync(f, { force: true });
      }
    });

    test('7. a Python client -> a Sprig worker: exact 64-bit integers (msgpack, JSON), PyYAML scalars, Celery time-limit exceptions, group_id, date_done, headers', async () => {
      await sprigWorker();
      const big = [2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n];
      const groupId = `group-${randomUUID()}`;
      const { results } = await w.pyClient(
        [
          { key: 'msgpack', name: 'proj.tasks.info', args: big, kwargs: { k: 2n ** 63n - 1n }, options: { serializer: 'msgpack' } },
          { key: 'json', name: 'proj.tasks.info', args: [9007199254740993n, 2n ** 100n], options: { serializer: 'json' } },
          { key: 'yaml', name: 'proj.tasks.info', args: ['1e3', 'y', 1.5, 2n ** 63n - 1n], kwargs: { x: 1, y: 2, n: 3 }, options: { serializer: 'yaml' } },
          { key: 'hard', name: 'proj.tasks.sleep', args: [5000], options: { time_limit: 0.5 } },
          { key: 'soft', name: 'proj.tasks.until_aborted', options: { soft_time_limit: 0.3 } },
          { key: 'meta', name: 'proj.tasks.info', options: { group_id: groupId, headers: { 'x-trace': 'trace-1', tenant: { id: 7 } } } },
        ],
        { timeout: 20 },
      );
      const ok = (key: string) => {
        const r = results[key]!;
        assert.equal(r.state, 'SUCCESS', `${key}: ${JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}` : v))}\n${w.sprigWorker?.tail()}`);
        return r.result as Info & { headers: Record<string, unknown>; groupId: string | null };
      };
      assert.deepEqual(ok('msgpack').args, big, 'msgpack int64/uint64 reach the task and come back exactly');
      assert.deepEqual(ok('msgpack').kwargs, { k: 2n ** 63n - 1n });
      assert.deepEqual(ok('json').args, [9007199254740993n, 2n ** 100n], 'JSON integers past 2**53 come back exactly');
      assert.deepEqual(ok('yaml').args, ['1e3', 'y', 1.5, 2n ** 63n - 1n], 'YAML strings stay strings, as PyYAML wrote them');
      assert.deepEqual(ok('yaml').kwargs, { x: 1, y: 2, n: 3 }, 'keys y and n are strings, as in PyYAML');
      for (const [key, type, args] of [
        ['hard', 'TimeLimitExceeded', [0.5]],
        ['soft', 'SoftTimeLimitExceeded', []],
      ] as const) {
        const r = results[key]!;
        assert.deepEqual([r.state, r.exc_type, r.exc_module, r.celery_class, r.exc_args], ['FAILURE', type, 'billiard.exceptions', true, args], `${key}: ${JSON.stringify(r)}`);
      }
      const meta = ok('meta');
      assert.deepEqual(meta.headers, { 'x-trace': 'trace-1', tenant: { id: 7 } }, 'apply_async(headers=...) reaches ctx.headers');
      assert.equal(meta.groupId, groupId);
      const stored = (await storedMeta(results.meta!.id))!;
      assert.equal(stored.group_id, groupId, 'the stored result has group_id');
      assert.equal('parent_id' in stored, false);
      for (const key of ['msgpack', 'hard', 'meta']) {
        const r = results[key]!;
        assert.match(r.date_done_raw ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/, key);
        assert.equal(r.date_done, r.date_done_raw, `${key}: Python reads date_done as it was written`);
      }
    });

    test('8. `celery control add_consumer` / `cancel_consumer` make the Sprig worker start and stop consuming from a queue; `celery inspect active_queues` follows', async () => {
      await sprigWorker();
      const q = w.queue();
      const queuesOf = async () => {
        const r = await w.celery(['inspect', 'active_queues', '-d', w.sprigHost, '-j']);
        return ((celeryJson(r.output)[w.sprigHost] ?? []) as Array<{ name: string }>).map((x) => x.name);
      };
      // `celery control -j` prints a list of {host: reply}.
      const replyOf = (output: string) => {
        const line = output.split('\n').reverse().find((l) => l.trim().startsWith('['));
        assert.ok(line, `no JSON list in celery's output:\n${output}`);
        return (JSON.parse(line) as Array<Record<string, unknown>>).find((r) => w.sprigHost in r)?.[w.sprigHost];
      };
      const add = await w.celery(['control', 'add_consumer', q, '-d', w.sprigHost, '-j']);
      assert.equal(add.code, 0, add.output);
      assert.deepEqual(replyOf(add.output), { ok: `add consumer ${q}` }, add.output);
      assert.ok((await queuesOf()).includes(q));
      const { results } = await w.pyClient([{ key: 'add', name: 'proj.tasks.add', args: [40, 2] }], { queue: q, timeout: 10 });
      assert.deepEqual([results.add!.state, results.add!.result], ['SUCCESS', 42], 'a Python client\'s task on the added queue runs');
      const cancel = await w.celery(['control', 'cancel_consumer', q, '-d', w.sprigHost, '-j']);
      assert.deepEqual(replyOf(cancel.output), { ok: `no longer consuming from ${q}` }, cancel.output);
      assert.ok(!(await queuesOf()).includes(q));
    });

    if (kind === 'amqp') {
      // Reported as TODO (not hidden) while the rpc backend is not wired into the worker and the client.

      test('rpc://: a Python client with the rpc backend gets results from a Sprig worker (no --result-backend)', async () => {
        const q = w.queue();
        const host = `sprig-rpc-${w.id}@interop`;
        const worker = w.startSprigWorker({ queues: [q], hostname: host, resultBackend: null });
        await w.sprigWorkerReady(worker);
        const { results } = await w.pyClient(
          [
            { key: 'add', name: 'proj.tasks.add', args: [2, 3] },
            { key: 'fail', name: 'proj.tasks.fail', args: ['rpc'] },
          ],
          { queue: q, backend: 'rpc://', timeout: 4 },
        );
        assert.equal(results.add!.state, 'SUCCESS', JSON.stringify(results.add));
        assert.equal(results.add!.result, 5);
        assert.equal(results.fail!.exc_type, 'TypeError');
      });

      test('rpc://: a Sprig client with the rpc backend gets results from a Celery worker (rpc://)', async () => {
        const q = w.queue();
        const host = `py-rpc-${w.id}@interop`;
        const worker = w.startCeleryWorker({ queues: [q], hostname: host, backend: 'rpc://' });
        await w.celeryWorkerReady(worker, host);
        const app = w.app({ defaultQueue: q, resultBackend: null });
        const add = app.sendTask('app.add', [2, 3]);
        assert.equal(await add.get({ timeout: 4 }), 5);
      });
    }
  });
}

/**
 * Issue 23: a task revoked, or one whose `expires` passes, while it waits for a pool slot ends
 * REVOKED without running, on every pool and broker. A pool of 2 holds ten tasks: two run, the
 * others wait (in the consumer's reserved set, or in a pool child's batch). The first two hold
 * their slots until the test opens a gate, so what waits, and for how long, is up to the test
 * and not to the machine's speed. `inspect query_task` shows Celery's reply shape meanwhile.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Redis from 'ioredis';
import { App, TaskError } from '../../runtime/src/index.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { ROOT, runCli, cliResult, stopEmbeddedBroker, tmpDir, uniqueQueue, waitFor, type Spawned } from '../helpers.js';
import { AMQP_URL, AmqpFixture } from './amqp-helpers.js';

const TASKS = path.join(ROOT, 'test/fixtures/control-tasks.ts');
const REDIS = 'redis://127.0.0.1:6379/0';
const POOLS = ['process', 'thread', 'async'] as const;
/** Task 8's life: long enough to be delivered on a busy machine, short enough to wait out. */
const EXPIRES_MS = 2000;

interface Target {
  name: string;
  url: string;
  resultBackend?: string;
  env: NodeJS.ProcessEnv;
  projectDir?: string;
  cleanup(queues: string[], taskIds: string[]): Promise<void>;
}

async function deleteRedisKeys(queues: string[], taskIds: string[]): Promise<void> {
  const r = new Redis(REDIS);
  try {
    const keys = taskIds.map((id) => `celery-task-meta-${id}`);
    for (const q of queues) keys.push(...(await r.keys(`${q}*`)), `_kombu.binding.${q}`);
    if (keys.length) await r.del(...keys);
  } finally {
    r.disconnect();
  }
}

const embeddedDir = tmpDir('sprig-revoke-waiting-');
const gates = tmpDir('sprig-gates-');
const amqp = new AmqpFixture();
const targets: Target[] = [
  { name: 'embedded', url: 'sprig://', env: { SPRIG_PROJECT_DIR: embeddedDir }, projectDir: embeddedDir, async cleanup() {} },
  { name: 'redis', url: REDIS, env: {}, cleanup: deleteRedisKeys },
  {
    name: 'amqp',
    url: AMQP_URL,
    resultBackend: REDIS,
    env: {},
    async cleanup(queues, taskIds) {
      amqp.queues.push(...queues);
      await amqp.cleanup();
      await deleteRedisKeys([], taskIds);
    },
  },
];

after(() => {
  stopEmbeddedBroker(embeddedDir);
  fs.rmSync(gates, { recursive: true, force: true });
});

for (const t of targets) {
  // The three pools run side by side: each has its own worker and queue.
  describe(`revoked and expired tasks waiting for a slot on ${t.name}`, { concurrency: POOLS.length }, () => {
    const workers: Spawned[] = [];
    const apps: App[] = [];
    const queues: string[] = [];
    const taskIds: string[] = [];

    after(async () => {
      for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
      for (const a of apps) await a.close();
      await t.cleanup(queues, taskIds);
    });

    for (const pool of POOLS) {
      test(`${pool} pool of 2, ten slow tasks: task 6 revoked and task 8 expired while they wait never run; the other eight do`, async () => {
        const queue = uniqueQueue();
        queues.push(queue);
        const host = `${pool}-${queue}`;
        const w = runCli(['worker', '--app', TASKS, '--broker', t.url, ...(t.resultBackend ? ['--result-backend', t.resultBackend] : []), '-Q', queue, '-P', pool, '-c', '2', '-E', '-n', host, '-l', 'info'], { env: t.env });
        workers.push(w);
        const app = new App({ brokerUrl: t.url, resultBackend: t.resultBackend, defaultQueue: queue, projectDir: t.projectDir });
        apps.push(app);
        const revokedEvents = new Map<string, SprigEvent & { type: 'task-revoked' }>();
        const off = await (await app.broker()).subscribeEvents((e) => {
          if (e.type === 'task-revoked' && e.hostname === host) revokedEvents.set(e.uuid, e);
        });
        try {
          await waitFor(() => w.err().includes(' ready:') || w.proc.exitCode !== null, 30_000, 'worker ready');
          assert.equal(w.proc.exitCode, null, w.err());

          const gate = path.join(gates, queue);
          const expiresAt = new Date(Date.now() + EXPIRES_MS);
          const rs = Array.from({ length: 10 }, (_, i) => app.sendTask('gated', [gate, 300], {}, i === 7 ? { expires: expiresAt } : {}));
          taskIds.push(...rs.map((r) => r.id));
          const [first, sixth, eighth] = [rs[0]!.id, rs[5]!.id, rs[7]!.id];

          // Found here means delivered unexpired: task 8 waits in the worker, not in the broker.
          const query = async () => {
            const replies = await app.control.inspect('query_task', { arguments: { ids: [first, sixth, eighth] }, destination: [host], timeout: 2 });
            const mine = replies[0]?.[host] as Record<string, [string, { id: string; name: string; args: unknown[] }]> | undefined;
            return mine && Object.keys(mine).length === 3 && mine[first]![0] === 'active' ? mine : undefined;
          };
          const held = await waitFor(query, 15_000, 'the worker to hold tasks 1, 6 and 8, task 1 running');
          assert.deepEqual(held[sixth]![0], 'reserved');
          assert.deepEqual(held[eighth]![0], 'reserved');
          assert.equal(held[first]![1].id, first);
          assert.equal(held[first]![1].name, 'gated');
          assert.deepEqual(held[first]![1].args, [gate, 300]);

          await app.control.revoke(sixth, { destination: [host], timeout: 2 });
          await new Promise((r) => setTimeout(r, Math.max(0, expiresAt.getTime() - Date.now()) + 100));
          fs.writeFileSync(gate, '');

          const outcomes = await Promise.all(rs.map((r) => r.get({ timeout: 30 }).then((v) => v, (e: unknown) => e)));
          for (const [i, o] of outcomes.entries()) {
            if (i === 5 || i === 7) {
              assert.ok(o instanceof TaskError, `task ${i + 1} ended ${String(o)}`);
              assert.equal(o.excType, 'TaskRevokedError');
              assert.deepEqual(o.excMessage, [i === 5 ? 'revoked' : 'expired']);
              assert.equal(rs[i]!.state, 'REVOKED');
            } else assert.equal(o, 300, `task ${i + 1}: ${String(o)}`);
          }
          const ran = fs.readFileSync(`${gate}.ran`, 'utf8').trim().split('\n');
          assert.deepEqual([...ran].sort(), rs.filter((_, i) => i !== 5 && i !== 7).map((r) => r.id).sort(), 'exactly the other eight ran');

          await waitFor(() => revokedEvents.size === 2, 10_000, 'two task-revoked events');
          assert.deepEqual(pick(revokedEvents.get(sixth)!), { terminated: false, signum: null, expired: false });
          assert.deepEqual(pick(revokedEvents.get(eighth)!), { terminated: false, signum: null, expired: true });
        } finally {
          await off();
        }
        w.proc.kill('SIGTERM');
        await w.exit;
      });
    }

    if (t.name === 'redis') {
      test('`sprig inspect query_task <ids>` asks for those ids; unknown ones are left out', async () => {
        const queue = uniqueQueue();
        queues.push(queue);
        const host = `q-${queue}`;
        const w = runCli(['worker', '--app', TASKS, '--broker', t.url, '-Q', queue, '-P', 'async', '-c', '1', '-n', host]);
        workers.push(w);
        await waitFor(() => w.err().includes(' ready:') || w.proc.exitCode !== null, 30_000, 'worker ready');
        const app = new App({ brokerUrl: t.url, defaultQueue: queue });
        apps.push(app);
        const gate = path.join(gates, queue);
        const running = app.sendTask('gated', [gate, 0]);
        taskIds.push(running.id);
        await waitFor(() => fs.existsSync(`${gate}.ran`), 15_000, 'the task to start');
        const out = await cliResult(['inspect', 'query_task', running.id, 'no-such-task', '--broker', t.url, '-d', host, '--timeout', '2', '--json']);
        assert.equal(out.code, 0, out.stderr);
        const [reply] = JSON.parse(out.stdout) as Array<Record<string, Record<string, [string, { id: string }]>>>;
        assert.deepEqual(Object.keys(reply![host]!), [running.id]);
        assert.equal(reply![host]![running.id]![0], 'active');
        fs.writeFileSync(gate, '');
        assert.equal(await running.get({ timeout: 30 }), 0);
        w.proc.kill('SIGTERM');
        await w.exit;
      });
    }
  });
}

function pick(e: { terminated: boolean; signum: number | null; expired: boolean }) {
  return { terminated: e.terminated, signum: e.signum, expired: e.expired };
}

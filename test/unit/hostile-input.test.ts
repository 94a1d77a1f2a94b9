/**
 * Issue 13: what Celery's own tools, Python clients and hostile producers send. A message whose
 * headers cannot be acted on is dead-lettered with a reason at once (never thrown later, where it
 * would kill the worker and come back to kill the next one); values round-trip exactly.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { App, TaskError, Worker, buildTaskMessage, type SprigEvent } from '../../runtime/src/index.js';
import type { MemoryBroker } from '../../runtime/src/brokers/memory/memory-broker.js';
import { FIXTURE_TASKS, uniqueQueue, waitFor } from '../helpers.js';

const url = `memory://${randomUUID()}`;
const queue = uniqueQueue();
/** Served by an async pool of 2 (`worker`) and by a process pool of 2 (`procWorker`). */
const procQueue = uniqueQueue();
let worker: Worker;
let procWorker: Worker;
let app: App;
const events: SprigEvent[] = [];
const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);

before(async () => {
  process.on('warning', onWarning);
  const config = (pool: 'async' | 'process', q: string) => ({ brokerUrl: url, accept: ['json', 'msgpack', 'yaml'], worker: { pool, concurrency: 2, prefetchMultiplier: 2, queues: [q], events: true } });
  worker = new Worker({ app: FIXTURE_TASKS, logLevel: 'error', config: config('async', queue) });
  procWorker = new Worker({ app: FIXTURE_TASKS, logLevel: 'error', config: { ...config('process', procQueue), worker: { ...config('process', procQueue).worker, hostname: `proc-${randomUUID()}@test` } } });
  app = new App({ brokerUrl: url, defaultQueue: queue });
  await (await app.broker()).subscribeEvents((e) => events.push(e));
  await Promise.all([worker.start(), procWorker.start()]);
});

after(async () => {
  process.off('warning', onWarning);
  await Promise.all([worker.stop(), procWorker.stop()]);
  await app.close();
});

const rejectedFor = (id: string) => waitFor(() => events.find((e): e is Extract<SprigEvent, { type: 'task-rejected' }> => e.type === 'task-rejected' && e.uuid === id), 3000, `task-rejected for ${id}`);

test('1. poison headers (eta 1e13, a date that is no date, bad time limits, retries, priority) are dead-lettered with a reason; the worker keeps going', async () => {
  const broker = (await app.broker()) as MemoryBroker;
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['eta 1e13 (an invalid Date)', { eta: 1e13 }, /invalid eta header 10000000000000/],
    ['eta that is no date', { eta: 'tomorrow' }, /invalid eta header "tomorrow"/],
    ['eta of another type', { eta: { t: 1 } }, /invalid eta header/],
    ['expires 1e13', { expires: 1e13 }, /invalid expires header/],
    ['a time limit that is no number', { timelimit: ['30', null] }, /invalid timelimit header/],
    ['a negative soft time limit', { timelimit: [null, -1] }, /invalid timelimit header/],
    ['timelimit that is no pair', { timelimit: 30 }, /invalid timelimit header/],
    ['retries -1', { retries: -1 }, /invalid retries header/],
    ['retries as a string', { retries: '2' }, /invalid retries header/],
    ['root_id of another type', { root_id: 7 }, /invalid root_id header/],
    ['ignore_result that is no boolean', { ignore_result: 'yes' }, /invalid ignore_result header/],
  ];
  const before = await broker.deadLetterLength(queue);
  for (const [what, headers, reason] of cases) {
    const m = buildTaskMessage({ name: 'add', args: [1, 2], queue });
    Object.assign(m.headers, headers);
    await broker.publish(queue, m);
    const ev = await rejectedFor(m.headers.id as string);
    assert.match(ev.reason ?? '', reason, what);
    assert.equal(ev.requeue, false, what);
  }
  const bad = buildTaskMessage({ name: 'add', args: [1, 2], queue });
  bad.properties.priority = 1.5;
  await broker.publish(queue, bad);
  assert.match((await rejectedFor(bad.headers.id as string)).reason ?? '', /invalid priority header/);
  await waitFor(async () => (await broker.deadLetterLength(queue)) - before === cases.length + 1, 3000, 'every poison message dead-lettered');
  // Still alive, and Python's other ISO forms (space separator, naive = UTC) are fine.
  const ok = buildTaskMessage({ name: 'add', args: [2, 2], queue });
  ok.headers.eta = new Date(Date.now() - 1000).toISOString().replace('T', ' ').replace('Z', '');
  await broker.publish(queue, ok);
  assert.equal(await app.asyncResult(ok.headers.id as string).get({ timeout: 30 }), 4);
});

/** A task message as a Python client writes it: body bytes of `contentType`, written by hand. */
function foreign(name: string, contentType: string, body: Buffer) {
  const m = buildTaskMessage({ name, args: [], queue });
  return { ...m, contentType, contentEncoding: contentType === 'application/json' ? 'utf-8' : 'binary', body };
}

const BIG = [2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, 9007199254740993n];

test('2. 64-bit integers from Python (msgpack, JSON) reach the task exactly and are written back exactly, in the async and the process pool', async () => {
  const broker = (await app.broker()) as MemoryBroker;
  const { Packr } = require('msgpackr') as typeof import('msgpackr');
  const packed = new Packr({ useRecords: false }).pack([[...BIG, 1, 2 ** 40], { k: 2n ** 63n - 1n }, {}]);
  const json = Buffer.from('[[9223372036854775807, -9223372036854775808, 18446744073709551615, 9007199254740993, 1, 1099511627776], {"k": 9223372036854775807}, {}]');
  {
    for (const q of [queue, procQueue]) {
      for (const [ct, body] of [['application/x-msgpack', Buffer.from(packed)], ['application/json', json]] as const) {
        const m = foreign('echo', ct, body);
        await broker.publish(q, m);
        const got = await app.asyncResult(m.headers.id as string).get({ timeout: 30 });
        assert.deepEqual(got, [...BIG, 1, 2 ** 40, { k: 2n ** 63n - 1n }], `${ct} on ${q === queue ? 'async' : 'process'} pool`);
      }
    }
  }
  // Bytes (msgpack bin, YAML !!binary) reach a pool child as bytes, not as {type: 'Buffer', data}.
  const withBytes = new Packr({ useRecords: false }).pack([[Buffer.from('hi'), 2n ** 63n - 1n, 'x'], {}, {}]);
  const yamlBytes = Buffer.from('- [!!binary aGk=, 9223372036854775807, x]\n- {}\n- {}\n');
  for (const q of [queue, procQueue]) {
    for (const [ct, body] of [['application/x-msgpack', Buffer.from(withBytes)], ['application/x-yaml', yamlBytes]] as const) {
      const m = foreign('kinds', ct, body);
      await broker.publish(q, m);
      assert.deepEqual(await app.asyncResult(m.headers.id as string).get({ timeout: 30 }), ['bytes:6869', 'bigint', 'string'], `${ct} on ${q === queue ? 'async' : 'process'} pool`);
    }
  }
  // What is written back: JSON digits (the result backend and task bodies), msgpack int64/uint64.
  const { serializers } = await import('../../runtime/src/serialization/registry.js');
  const { encodeResultMeta } = await import('../../runtime/src/brokers/redis/redis-backend.js');
  assert.equal(serializers.get('json').encode([BIG, {}]).toString(), '[[9223372036854775807,-9223372036854775808,18446744073709551615,9007199254740993],{}]');
  assert.deepEqual(serializers.get('json').decode(serializers.get('json').encode(BIG)), BIG);
  assert.deepEqual(serializers.get('msgpack').decode(serializers.get('msgpack').encode(BIG)), BIG);
  assert.match(encodeResultMeta({ status: 'SUCCESS', result: BIG, traceback: null, children: [], date_done: null, task_id: 'x' }), /"result": \[9223372036854775807, -9223372036854775808, 18446744073709551615, 9007199254740993\]/);
  // One a serializer cannot write (msgpack has no integer past 64 bits) fails at the caller, not later.
  assert.throws(() => serializers.get('msgpack').encode([2n ** 64n]), /too large/);
});

test('4. timers past 24.8 days: a 30-day countdown waits, 30-day time limits do not fire at once (async and process pool)', async () => {
  const { setLongTimeout } = await import('../../runtime/src/util/timers.js');
  let fired = 0;
  const long = [setLongTimeout(() => fired++, 2 ** 31), setLongTimeout(() => fired++, 30 * 86400_000), setLongTimeout(() => fired++, Infinity)];
  const short = await new Promise<number>((res) => setLongTimeout(() => res(Date.now()), 20));
  assert.ok(short > 0);
  const later = app.sendTask('add', [1, 2], {}, { countdown: 30 * 86400 });
  const limited = [queue, procQueue].map((q) => app.sendTask('slow', [300], {}, { queue: q, timeLimit: 30 * 86400, softTimeLimit: 30 * 86400 }));
  for (const r of limited) assert.equal(await r.get({ timeout: 30 }), 300, 'a 30-day time limit lets a 300 ms task finish');
  assert.equal(fired, 0, 'no long timer fired');
  for (const t of long) clearTimeout(t);
  await waitFor(() => worker.consumer.scheduled.has(later.id), 2000, 'the 30-day task held as scheduled');
  assert.equal(await app.asyncResult(later.id).status(), 'PENDING', 'it has not run');
  // get() with a 30-day timeout waits too (it does not time out at once).
  const waiting = app.asyncResult(later.id).get({ timeout: 30 * 86400 }).then(() => 'done', (e: Error) => e.message);
  const first = await Promise.race([waiting, new Promise((r) => setTimeout(() => r('still waiting'), 200))]);
  assert.equal(first, 'still waiting');
  await app.control.revoke(later.id, { timeout: 0.2 });
  assert.match(await waiting, /revoked/i);
  assert.deepEqual(warnings.filter((w) => w.name === 'TimeoutOverflowWarning').map((w) => w.message), []);
});

test("8. Celery-named errors are stored under Celery's class and module (TimeLimitExceeded, SoftTimeLimitExceeded, WorkerLostError)", async () => {
  const failure = async (r: ReturnType<App['sendTask']>) => {
    const err = await r.get({ timeout: 30 }).then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TaskError, String(err));
    return [err.excType, err.excModule, err.excMessage];
  };
  assert.deepEqual(await failure(app.sendTask('slow', [5000], {}, { timeLimit: 0.3 })), ['TimeLimitExceeded', 'billiard.exceptions', [0.3]]);
  assert.deepEqual(await failure(app.sendTask('untilAborted', [], {}, { softTimeLimit: 0.2 })), ['SoftTimeLimitExceeded', 'billiard.exceptions', []]);
  assert.deepEqual(await failure(app.sendTask('slow', [5000], {}, { queue: procQueue, timeLimit: 0.3 })), ['TimeLimitExceeded', 'billiard.exceptions', [0.3]]);
  const [type, module] = await failure(app.sendTask('crash', [], {}, { queue: procQueue }));
  assert.deepEqual([type, module], ['WorkerLostError', 'billiard.exceptions']);
  // Python's own builtins keep theirs; other JS errors are not passed off as Celery's.
  assert.deepEqual((await failure(app.sendTask('boom', ['x'])))!.slice(0, 2), ['RangeError', 'sprig']);
});

test('9. stored results carry group_id (and parent_id only when set) and date_done in Celery\'s format, six fractional digits', async () => {
  const backend = await app.backend();
  const broker = await app.broker();
  const m = buildTaskMessage({ name: 'add', args: [1, 2], queue, groupId: `g-${randomUUID()}` });
  await broker.publish(queue, m);
  assert.equal(await app.asyncResult(m.headers.id as string).get({ timeout: 30 }), 3);
  const meta = (await backend.get(m.headers.id as string))!;
  assert.equal(meta.group_id, m.headers.group);
  assert.equal('parent_id' in meta, false, 'no parent: no parent_id, as Celery writes it');
  assert.match(meta.date_done ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
  assert.ok(Math.abs(Date.parse(`${meta.date_done}Z`) - Date.now()) < 60_000);
  for (const k of ['name', 'args', 'kwargs', 'worker', 'retries', 'queue']) assert.ok(k in meta, k);
  const { toCeleryDateDone } = await import('../../runtime/src/protocol/time.js');
  assert.equal(toCeleryDateDone(new Date('2026-11-25T00:48:53.668Z')), '2026-11-25T00:48:53.668000');
});

test('10. a task reads the headers its caller added (ctx.headers), in the async and the process pool, and keeps them on retries', async () => {
  const headers = { 'x-trace': 'abc-123', tenant: { id: 7 } };
  const expires = new Date(Date.now() + 60_000);
  for (const q of [queue, procQueue]) {
    const got = (await app.sendTask('request', [], {}, { queue: q, headers, expires }).get({ timeout: 30 })) as { headers: Record<string, unknown>; queue: string; expires: number };
    assert.deepEqual(got.headers, headers, q === queue ? 'async pool' : 'process pool');
    // Other parts of Celery's request a task reads: its queue (delivery_info) and expiry.
    assert.deepEqual([got.queue, got.expires], [q, expires.getTime()]);
  }
  assert.deepEqual(await app.sendTask('requestAfterRetry', [], {}, { headers }).get({ timeout: 30 }), { headers, retries: 1 });
  assert.deepEqual(((await app.sendTask('request', []).get({ timeout: 30 })) as { headers: unknown }).headers, {}, 'no headers of its own: an empty object');
});

test('3. YAML read and written as PyYAML does: y/n are strings, a float needs a dot, integers are exact', async () => {
  const broker = (await app.broker()) as MemoryBroker;
  // What `yaml.safe_dump([[1, 'y', '1e3', 2**63-1], {'x': 1, 'y': 2, 'n': 3, 'e': '1e3', 'f': 1e21, 'on': 'off'}, {}])` writes.
  const fromPython = "- - 1\n  - y\n  - 1e3\n  - 9223372036854775807\n- e: 1e3\n  f: 1.0e+21\n  n: 3\n  'on': 'off'\n  x: 1\n  y: 2\n- {}\n";
  const m = foreign('echo', 'application/x-yaml', Buffer.from(fromPython));
  await broker.publish(queue, m);
  assert.deepEqual(await app.asyncResult(m.headers.id as string).get({ timeout: 30 }), [1, 'y', '1e3', 2n ** 63n - 1n, { e: '1e3', f: 1e21, n: 3, on: 'off', x: 1, y: 2 }]);
  const { yamlSerializer: y } = await import('../../runtime/src/serialization/yaml.js');
  const read = (s: string) => y.decode(Buffer.from(s));
  assert.deepEqual(read('[y, n, Y, N, yes, No, on, OFF, ~, null, 1e3, 1.0e+3, 1.5, .5, 017, 0o17, 0x1f, 0b11, 1:30, 09, 2001-12-14]'), [
    'y', 'n', 'Y', 'N', true, false, true, false, null, null, '1e3', 1000, 1.5, 0.5, 15, '0o17', 31, 3, 90, '09', new Date(Date.UTC(2001, 11, 14)),
  ]);
  // Written so that PyYAML reads back the same: strings it would take for something else are quoted.
  const text = y.encode(['y', 'n', '1e3', 'yes', 'null', '', '=', '2001-12-14', '1:30', '017', 1e21, 2 ** 63, 2n ** 63n - 1n, 3, NaN]).toString();
  assert.equal(text, '- y\n- n\n- 1e3\n- "yes"\n- "null"\n- ""\n- "="\n- "2001-12-14"\n- "1:30"\n- "017"\n- 1.0e+21\n- 9223372036854776000.0\n- 9223372036854775807\n- 3\n- .nan\n');
});

test('6. under prefetch, active = running now in a pool slot (with that child\'s pid), reserved = waiting; task-started is sent when a task starts, not when it is handed to the pool', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const gate = path.join(os.tmpdir(), `sprig-gate-${randomUUID()}`);
  try {
    // A process pool of 2 holding 2 jobs per child: 4 tasks are all handed to the pool at once.
    const rs = [0, 1, 2, 3].map(() => app.sendTask('gated', [gate, 0], {}, { queue: procQueue }));
    const host = procWorker.hostname;
    const ask = async (method: string) => ((await app.control.inspect(method, { destination: [host], timeout: 1 })).find((r) => host in r)?.[host] ?? []) as Array<Record<string, unknown>>;
    await waitFor(() => fs.existsSync(`${gate}.ran`) && fs.readFileSync(`${gate}.ran`, 'utf8').trim().split('\n').length === 2, 10_000, 'two tasks running');
    await waitFor(async () => (await ask('reserved')).length === 2, 5000, 'two reserved');
    const active = await ask('active');
    const ran = fs.readFileSync(`${gate}.ran`, 'utf8').trim().split('\n').sort();
    assert.deepEqual(active.map((t) => t.id).sort(), ran, 'active lists the two running tasks, not the four handed to the pool');
    const pids = procWorker.pool.pids();
    for (const t of active) {
      assert.ok(pids.includes(t.worker_pid as number) && t.worker_pid !== process.pid, `worker_pid ${String(t.worker_pid)} is a pool child's (${pids.join(', ')})`);
      assert.equal(typeof t.time_start, 'number');
    }
    assert.notEqual(active[0]!.worker_pid, active[1]!.worker_pid, 'one in each child');
    const reserved = await ask('reserved');
    assert.deepEqual(reserved.map((t) => [t.time_start, t.worker_pid]), [[null, null], [null, null]]);
    const startedIds = () => events.filter((e) => e.type === 'task-started' && rs.some((r) => r.id === e.uuid)).map((e) => (e as { uuid: string }).uuid);
    await waitFor(() => startedIds().length >= 2, 2000, 'task-started of the running two');
    assert.deepEqual(startedIds().sort(), ran, 'task-started only for the two that started');
    const beats = () => events.filter((e) => e.type === 'worker-heartbeat' && e.hostname === host).length;
    const before = beats();
    procWorker.sendHeartbeat();
    await waitFor(() => beats() > before, 2000, 'a heartbeat');
    const heartbeat = events.filter((e) => e.type === 'worker-heartbeat' && e.hostname === host).pop() as { active: number };
    assert.equal(heartbeat.active, 2, 'the heartbeat counts the running tasks only');
    fs.writeFileSync(gate, '');
    for (const r of rs) await r.get({ timeout: 30 });
    await waitFor(() => startedIds().length === 4, 2000, 'task-started of all four');
    for (const r of rs) {
      const kinds = events.filter((e) => 'uuid' in e && e.uuid === r.id).map((e) => e.type);
      assert.ok(kinds.indexOf('task-started') < kinds.indexOf('task-succeeded'), `${r.id}: ${kinds.join(', ')}`);
    }
  } finally {
    fs.writeFileSync(gate, '');
    for (const f of [gate, `${gate}.ran`]) fs.rmSync(f, { force: true });
  }
});

test('7. add_consumer / cancel_consumer: the worker starts and stops consuming from a queue; what it holds meanwhile still finishes', async () => {
  const extra = uniqueQueue();
  const broker = await app.broker();
  const host = worker.hostname;
  const control = async (method: string, args: Record<string, unknown>) => (await app.control.broadcast(method, { destination: [host], timeout: 1, arguments: args })).find((r) => host in r)?.[host];
  const queuesNow = async () => ((await control('active_queues', {})) as Array<{ name: string }>).map((q) => q.name);
  const held = app.sendTask('slow', [300]);
  await waitFor(() => worker.consumer.running().some((r) => r.req.id === held.id), 3000, 'a task running');
  assert.deepEqual(await control('add_consumer', { queue: extra }), { ok: `add consumer ${extra}` });
  assert.deepEqual(await queuesNow(), [queue, extra]);
  assert.equal(await app.sendTask('add', [20, 22], {}, { queue: extra }).get({ timeout: 30 }), 42, 'a task on the added queue runs');
  assert.deepEqual(await control('cancel_consumer', { queue: extra }), { ok: `no longer consuming from ${extra}` });
  assert.deepEqual(await queuesNow(), [queue]);
  const left = app.sendTask('add', [1, 1], {}, { queue: extra });
  await left.sent;
  assert.equal(await held.get({ timeout: 30 }), 300, 'the task running across both swaps finished');
  assert.equal(await app.sendTask('add', [2, 2]).get({ timeout: 30 }), 4, 'the first queue is still consumed');
  assert.equal(await broker.queueLength(extra), 1, 'nothing is taken from a cancelled queue');
  assert.equal(await broker.queueLength(queue), 0, 'and nothing held on the old consumer was given back');
  assert.deepEqual(await control('add_consumer', {}), { error: 'add_consumer needs a queue' });
  await broker.purge(extra);
});

test('same classes, further: NaN/Infinity as json.dumps writes them, bad pool_grow/rate_limit arguments, Object.prototype names as control commands, TaskRevokedError("terminated"), inspect clock/report, exact CLI JSON', async () => {
  const broker = (await app.broker()) as MemoryBroker;
  // Python's json.dumps([float('nan'), float('inf')]) writes NaN and Infinity: read, not dead-lettered.
  const m = foreign('echo', 'application/json', Buffer.from('[[NaN, Infinity, -Infinity, "NaN"], {}, {}]'));
  await broker.publish(queue, m);
  assert.deepEqual(await app.asyncResult(m.headers.id as string).get({ timeout: 30 }), [NaN, Infinity, -Infinity, 'NaN']);
  const host = worker.hostname;
  const control = async (method: string, args: Record<string, unknown>) => (await app.control.broadcast(method, { destination: [host], timeout: 1, arguments: args })).find((r) => host in r)?.[host];
  const size = worker.pool.size;
  for (const n of ['abc', -1, 1e9, 1.5]) assert.deepEqual(await control('pool_grow', { n }), { error: 'n must be an integer from 1 to 1000' }, String(n));
  assert.equal(worker.pool.size, size, 'the pool kept its size');
  for (const rate of [-5, 'x/s']) assert.match(((await control('rate_limit', { task_name: 'add', rate_limit: rate })) as { error: string }).error, /bad rate limit/);
  assert.equal(await app.sendTask('add', [1, 1]).get({ timeout: 30 }), 2, 'tasks still run');
  const { parseRate } = await import('../../runtime/src/worker/rate-limit.js');
  assert.equal(parseRate('0/s'), null, "'0/s' disables the limit");
  // Terminated: TaskRevokedError('terminated'), as Celery stores it.
  const r = app.sendTask('slow', [5000]);
  await waitFor(() => worker.consumer.running().some((x) => x.req.id === r.id), 3000, 'started');
  await app.control.revoke(r.id, { terminate: true, timeout: 0.2 });
  const err = await r.get({ timeout: 30 }).catch((e: unknown) => e);
  assert.ok(err instanceof TaskError);
  assert.deepEqual([err.excType, err.excModule, err.excMessage], ['TaskRevokedError', 'celery.exceptions', ['terminated']]);
  for (const method of ['constructor', 'toString', '__proto__']) assert.deepEqual(await control(method, {}), { error: `No such control command: ${method}` }, method);
  assert.deepEqual(Object.keys((await control('clock', {})) as object), ['clock']);
  assert.match(((await control('report', {})) as { ok: string }).ok, /^software -> sprig:/);
  const { jsonArray } = await import('../../runtime/src/cli/options.js');
  assert.deepEqual(jsonArray('--args')('[9007199254740993, 1]'), [9007199254740993n, 1], 'sprig call --args keeps big integers exact');
});

test('same class, further: a body nested deeper than Python can write is dead-lettered at once, not a stack overflow later in the pool or the result store', async () => {
  const broker = (await app.broker()) as MemoryBroker;
  const nested = (depth: number, open: string, close: string) => Buffer.from(`[[${open.repeat(depth)}1${close.repeat(depth)}], {}, {}]`);
  for (const q of [queue, procQueue]) {
    const deep = foreign('echo', 'application/json', nested(5000, '[', ']'));
    deep.headers.argsrepr = '(...)';
    await broker.publish(q, deep);
    assert.match((await rejectedFor(deep.headers.id as string)).reason ?? '', /nested deeper than 1000 levels/);
    // As deep as Python's json goes still runs, is stored and answers.
    const ok = foreign('echo', 'application/json', nested(990, '{"a": ', '}'));
    await broker.publish(q, ok);
    const got = await app.asyncResult(ok.headers.id as string).get({ timeout: 30 });
    assert.ok(Array.isArray(got) && got.length === 1);
  }
  const { encodeResultMeta } = await import('../../runtime/src/brokers/redis/redis-backend.js');
  const deepObj = JSON.parse(`${'{"a": '.repeat(990)}1${'}'.repeat(990)}`) as unknown;
  assert.ok(encodeResultMeta({ status: 'SUCCESS', result: deepObj, args: [deepObj], traceback: null, children: [], date_done: null, task_id: 'x' }).length > 990);
});

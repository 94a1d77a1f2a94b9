import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterState } from '../../runtime/src/events/state.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';

let clock = 0;
const base = (type: string, hostname = 'w1@h') => ({ type, hostname, pid: 1, clock: ++clock, timestamp: 1000 + clock, utcoffset: 0 });
const sent = (uuid: string, name = 'add') =>
  ({ ...base('task-sent', 'gen1@h'), uuid, name, args: '(2, 3)', kwargs: '{}', retries: 0, eta: null, expires: null, queue: 'celery', exchange: '', routing_key: 'celery', root_id: null, parent_id: null }) as SprigEvent;
const received = (uuid: string, name = 'add', host = 'w1@h', retries = 0) =>
  ({ ...base('task-received', host), uuid, name, args: '(2, 3)', kwargs: '{}', retries, eta: null, expires: null, root_id: null, parent_id: null }) as SprigEvent;
const started = (uuid: string, host = 'w1@h') => ({ ...base('task-started', host), uuid }) as SprigEvent;
const succeeded = (uuid: string, host = 'w1@h') => ({ ...base('task-succeeded', host), uuid, result: '5', runtime: 0.01 }) as SprigEvent;
const failed = (uuid: string) => ({ ...base('task-failed'), uuid, exception: "RangeError('x')", traceback: 'RangeError: x\n    at f (/p/tasks.ts:5:9)' }) as SprigEvent;
const retried = (uuid: string) => ({ ...base('task-retried'), uuid, exception: 'Retry', traceback: '' }) as SprigEvent;
const heartbeat = (host: string, type = 'worker-heartbeat') =>
  ({ ...base(type, host), freq: 2, active: 1, processed: 7, loadavg: [0.5, 0.4, 0.3], sw_ident: 'sprig', sw_ver: '0.1.0', sw_sys: 'Linux' }) as SprigEvent;

test('a task goes PENDING → RECEIVED → STARTED → SUCCESS and keeps every field', () => {
  const s = new ClusterState();
  for (const e of [sent('a'), received('a'), started('a'), succeeded('a')]) s.apply(e);
  const t = s.tasks.get('a')!;
  assert.equal(t.state, 'SUCCESS');
  assert.equal(t.name, 'add');
  assert.equal(t.args, '(2, 3)');
  assert.equal(t.result, '5');
  assert.equal(t.worker, 'w1@h');
  assert.equal(t.queue, 'celery');
  assert.ok(t.sent && t.received && t.started && t.succeeded);
});

test('events out of order: a late started/received does not move SUCCESS back, but fills in fields', () => {
  const s = new ClusterState();
  s.apply(succeeded('b'));
  s.apply(started('b'));
  s.apply(received('b', 'mul'));
  s.apply(sent('b', 'mul'));
  const t = s.tasks.get('b')!;
  assert.equal(t.state, 'SUCCESS');
  assert.equal(t.name, 'mul');
  assert.equal(t.args, '(2, 3)');
  assert.equal(t.queue, 'celery');
  assert.ok(t.started && t.received);
});

test('a retried task is received again (same id) and can then succeed', () => {
  const s = new ClusterState();
  for (const e of [received('c'), started('c'), retried('c'), received('c', 'add', 'w1@h', 1), started('c'), succeeded('c')]) s.apply(e);
  const t = s.tasks.get('c')!;
  assert.equal(t.state, 'SUCCESS');
  assert.equal(t.retries, 1);
});

test('failure keeps the exception and traceback', () => {
  const s = new ClusterState();
  s.apply(received('d'));
  s.apply(failed('d'));
  assert.equal(s.tasks.get('d')!.state, 'FAILURE');
  assert.match(s.tasks.get('d')!.traceback!, /tasks\.ts:5:9/);
});

test('workers: online, heartbeat counts, offline; alive follows the heartbeat', () => {
  let now = 2000;
  const s = new ClusterState({ now: () => now });
  s.apply({ ...heartbeat('w1@h', 'worker-online'), local_received: 2000 } as SprigEvent);
  const w = s.workers.get('w1@h')!;
  assert.equal(w.online, true);
  assert.equal(w.processed, 7);
  assert.equal(s.isAlive(w), true);
  now = 2010;
  assert.equal(s.isAlive(w), false, 'no heartbeat for 10 s with freq 2');
  s.apply(heartbeat('w1@h', 'worker-offline'));
  assert.equal(w.online, false);
});

test('bounded: the oldest tasks go past maxTasks', () => {
  const s = new ClusterState({ maxTasks: 3 });
  for (const id of ['1', '2', '3', '4', '5']) s.apply(received(id));
  assert.deepEqual([...s.tasks.keys()], ['3', '4', '5']);
  s.setMaxTasks(2);
  assert.deepEqual([...s.tasks.keys()], ['4', '5']);
});

test('link records retry-of / retried-as, snapshot and load round-trip', () => {
  const s = new ClusterState();
  s.apply(received('old'));
  s.apply(failed('old'));
  s.link('old', 'new');
  assert.equal(s.tasks.get('old')!.retriedAs, 'new');
  assert.equal(s.tasks.get('new')!.retryOf, 'old');
  assert.equal(s.tasks.get('new')!.name, 'add');
  s.apply(received('new'));
  assert.equal(s.tasks.get('new')!.retryOf, 'old', 'kept after the first real event');
  const copy = new ClusterState();
  copy.load(s.snapshot());
  assert.deepEqual(copy.snapshot(), s.snapshot());
});

test('clear forgets tasks and offline workers', () => {
  const s = new ClusterState();
  s.apply(heartbeat('on@h', 'worker-online'));
  s.apply(heartbeat('off@h', 'worker-offline'));
  s.apply(received('x', 'add', 'on@h'));
  s.clear();
  assert.equal(s.tasks.size, 0);
  assert.deepEqual([...s.workers.keys()], ['on@h']);
});

// How fast is a figure for a benchmark, not a bound for a test (a busy machine would fail it).
test('applies 100,000 events (time printed)', () => {
  const s = new ClusterState({ maxTasks: 100_000 });
  const events: SprigEvent[] = [];
  for (let i = 0; i < 25_000; i++) events.push(received(`t${i}`), started(`t${i}`), succeeded(`t${i}`), heartbeat('w1@h'));
  const t0 = performance.now();
  s.applyAll(events);
  const ms = performance.now() - t0;
  assert.equal(s.tasks.size, 25_000);
  assert.equal([...s.tasks.values()].filter((t) => t.state === 'SUCCESS').length, 25_000);
  console.log(`  100,000 events applied in ${ms.toFixed(1)} ms`);
});

test('a task that raised Reject after it started ends REJECTED (not stuck in STARTED)', () => {
  const s = new ClusterState();
  const base = { hostname: 'w@h', pid: 1, utcoffset: 0 };
  s.apply({ ...base, type: 'task-received', uuid: 'r1', name: 'refuse', args: '()', kwargs: '{}', retries: 0, eta: null, expires: null, root_id: null, parent_id: null, clock: 1, timestamp: 1 });
  s.apply({ ...base, type: 'task-started', uuid: 'r1', clock: 2, timestamp: 2 });
  s.apply({ ...base, type: 'task-rejected', uuid: 'r1', requeue: false, reason: 'no', clock: 3, timestamp: 3 });
  assert.equal(s.tasks.get('r1')?.state, 'REJECTED');
});

test('a failed autoreload is kept on the worker until a reload works', () => {
  const s = new ClusterState();
  s.apply(heartbeat('w9@h', 'worker-online'));
  const err = '/p/tasks.ts:3:12: Unexpected "}"';
  const change = s.apply({ ...base('worker-reload', 'w9@h'), ok: false, error: err, file: '/p/tasks.ts' } as SprigEvent);
  assert.equal(change.worker?.reloadError, err);
  assert.equal(s.workers.get('w9@h')!.reloadError, err);
  s.apply(heartbeat('w9@h'));
  assert.equal(s.workers.get('w9@h')!.reloadError, err, 'a heartbeat does not clear it');
  s.apply({ ...base('worker-reload', 'w9@h'), ok: true, file: '/p/tasks.ts' } as SprigEvent);
  assert.equal(s.workers.get('w9@h')!.reloadError, null);
});

test("a retry's delivery received before the attempt before it reports task-retried: a later attempt, retries counted", () => {
  const s = new ClusterState();
  for (const e of [received('r'), started('r'), received('r', 'add', 'w1@h', 1), retried('r'), started('r'), succeeded('r')]) s.apply(e);
  const t = s.tasks.get('r')!;
  assert.equal(t.state, 'SUCCESS');
  assert.equal(t.retries, 1);
  assert.ok(t.retried);
});

test("Celery's State queries: event, tasksByTime/Type/Worker, taskTypes, aliveWorkers, itertasks, heartbeats, bounds", () => {
  let now = 2000;
  const s = new ClusterState({ maxTasks: 3, maxWorkers: 2, now: () => now });
  for (const e of [received('q1', 'add'), received('q2', 'mul', 'w2@h'), succeeded('q1'), received('q3', 'add')]) s.event(e);
  assert.deepEqual(s.taskTypes(), ['add', 'mul']);
  assert.deepEqual(s.tasksByTime().map((t) => t.uuid), ['q3', 'q1', 'q2']);
  assert.deepEqual(s.tasksByTime(2, false).map((t) => t.uuid), ['q2', 'q1']);
  assert.deepEqual(s.tasksByType('add').map((t) => t.uuid), ['q3', 'q1']);
  assert.deepEqual(s.tasksByWorker('w2@h').map((t) => t.uuid), ['q2']);
  assert.deepEqual([...s.itertasks(2)].map((t) => t.uuid), ['q1', 'q2']);
  s.event(received('q4'));
  assert.equal(s.tasks.size, 3);
  assert.equal(s.taskCount, 4);
  assert.equal(s.getOrCreateTask('q9').state, 'PENDING');
  for (let i = 0; i < 6; i++) s.event({ ...heartbeat('w1@h'), local_received: now + i } as SprigEvent);
  const w = s.workers.get('w1@h')!;
  assert.deepEqual(w.heartbeats, [now + 2, now + 3, now + 4, now + 5]);
  now += 5;
  assert.deepEqual(s.aliveWorkers().map((x) => x.hostname), ['w1@h']);
  now += 60;
  assert.deepEqual(s.aliveWorkers(), []);
  s.getOrCreateWorker('w3@h');
  s.getOrCreateWorker('w4@h');
  assert.equal(s.workers.size, 2, 'bounded; offline workers go first');
  assert.ok(s.workers.has('w1@h'));
  const copy = new ClusterState();
  copy.load(s.snapshot());
  assert.deepEqual(copy.workers.get('w1@h')!.heartbeats, w.heartbeats);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ATTEMPTS_KEPT, ClusterState } from '../../runtime/src/events/state.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { progressText, TaskProgress } from '../../runtime/src/cli/call-watch.js';
import { progressReport, stateReport } from '../../runtime/src/app/task.js';

const ID = '1a2b3c4d-0000-4000-8000-000000000000';
let clock = 0;
const ev = (type: string, ts: number, extra: Record<string, unknown> = {}) => ({ type, hostname: 'w1@h', pid: 100, clock: ++clock, timestamp: ts, utcoffset: 0, uuid: ID, ...extra }) as unknown as SprigEvent;

function retriedThrice(order: 'normal' | 'received-first'): ClusterState {
  const s = new ClusterState();
  s.apply(ev('task-sent', 1, { name: 'flaky', args: '()', kwargs: '{}', retries: 0, queue: 'q' }));
  for (let n = 0; n < 4; n++) {
    const base = 10 + n * 10;
    const host = `w${n % 2}@h`;
    const recv = ev('task-received', base, { name: 'flaky', retries: n, hostname: host });
    const retried = ev('task-retried', base + 3, { exception: `Timeout("try ${n}")`, hostname: host });
    if (n > 0 && order === 'received-first') {
      // The retry's delivery was received before the task-retried of the attempt before it.
      const last = pending.pop()!;
      s.apply(recv);
      s.apply(last);
    } else s.apply(recv);
    s.apply(ev('task-started', base + 1, { hostname: host, worker_pid: 200 + n }));
    if (n < 3) {
      if (order === 'received-first') pending.push(retried);
      else s.apply(retried);
    } else s.apply(ev('task-succeeded', base + 2, { hostname: host, result: '1', runtime: 1 }));
  }
  return s;
}
const pending: SprigEvent[] = [];

for (const order of ['normal', 'received-first'] as const) {
  test(`a task retried 3 times keeps each attempt: worker, pid, times, reason (${order})`, () => {
    const t = retriedThrice(order).tasks.get(ID)!;
    assert.equal(t.state, 'SUCCESS');
    assert.equal(t.retries, 3);
    assert.equal(t.attempts?.length, 3);
    assert.deepEqual(
      t.attempts!.map((a) => [a.retries, a.worker, a.pid, a.received, a.started, a.retried, a.reason]),
      [
        [0, 'w0@h', 200, 10, 11, 13, 'Timeout("try 0")'],
        [1, 'w1@h', 201, 20, 21, 23, 'Timeout("try 1")'],
        [2, 'w0@h', 202, 30, 31, 33, 'Timeout("try 2")'],
      ],
    );
    // The current attempt is the task's own fields.
    assert.deepEqual([t.worker, t.pid, t.received, t.started, t.succeeded], ['w1@h', 203, 40, 41, 42]);
  });
}

test('attempts are bounded, survive a snapshot, and the same task-retried twice is one attempt', () => {
  const s = new ClusterState();
  for (let n = 0; n < ATTEMPTS_KEPT + 5; n++) {
    s.apply(ev('task-received', n * 10, { retries: n }));
    s.apply(ev('task-started', n * 10 + 1));
    const r = ev('task-retried', n * 10 + 2, { exception: `E${n}` });
    s.apply(r);
    s.apply(r);
  }
  const t = s.tasks.get(ID)!;
  assert.equal(t.attempts!.length, ATTEMPTS_KEPT);
  assert.equal(t.attempts![0]!.retries, 5);
  const copy = new ClusterState();
  copy.load(s.snapshot());
  assert.deepEqual(copy.tasks.get(ID)!.attempts, t.attempts);
  copy.tasks.get(ID)!.attempts![0]!.reason = 'changed';
  assert.equal(t.attempts![0]!.reason, 'E5', 'the snapshot is a copy');
});

test('task-progress: the progress kept (state unchanged), a late one ignored, hostile fields dropped', () => {
  const s = new ClusterState();
  s.apply(ev('task-started', 5));
  s.apply(ev('task-progress', 6, { custom_state: 'PROGRESS', done: 3, total: 10, meta: { done: 3, total: 10 } }));
  let t = s.tasks.get(ID)!;
  assert.equal(t.state, 'STARTED');
  assert.deepEqual(t.progress, { state: 'PROGRESS', done: 3, total: 10, meta: '{"done":3,"total":10}', timestamp: 6 });
  s.apply(ev('task-progress', 5.5, { custom_state: 'PROGRESS', done: 1, total: 10 }));
  assert.equal(s.tasks.get(ID)!.progress!.done, 3, 'an older report does not win');
  s.apply(ev('task-progress', 7, { custom_state: { evil: 1 }, done: 'x', total: Infinity, meta: 'y'.repeat(5000) }));
  t = s.tasks.get(ID)!;
  assert.deepEqual([t.progress!.state, t.progress!.done, t.progress!.total, t.progress!.meta!.length], ['PROGRESS', null, null, 1024]);
});

test('ctx.progress / ctx.updateState check their arguments', () => {
  assert.deepEqual(progressReport(2, 4), { state: 'PROGRESS', meta: { done: 2, total: 4 }, done: 2, total: 4 });
  assert.throws(() => progressReport(Number.NaN, 4), /done must be a finite number >= 0, got NaN/);
  assert.throws(() => progressReport(1, -1), /total must be/);
  assert.throws(() => progressReport(1, 2, [] as never), /meta must be an object/);
  assert.deepEqual(stateReport('UPLOADING', { done: 1, total: 3, file: 'a' }), { state: 'UPLOADING', meta: { done: 1, total: 3, file: 'a' }, done: 1, total: 3 });
  assert.throws(() => stateReport('SUCCESS', {}), /a state the worker sets itself/);
  assert.throws(() => stateReport('bad state!', {}), /state must be a name like "PROGRESS"/);
});

test("sprig call --wait: a text progress bar per change", () => {
  assert.equal(progressText(4, 10), '[########------------]  40% (4/10)');
  assert.equal(progressText(12, 10), '[####################] 100% (12/10)');
  assert.equal(progressText(null, null, { stage: 'upload' }), '{"stage":"upload"}');
  const p = new TaskProgress(ID);
  assert.equal(p.fromEvent(ev('task-progress', 1, { custom_state: 'PROGRESS', done: 1, total: 2 })), 'sprig: 1a2b3c4d PROGRESS [##########----------]  50% (1/2)');
  assert.equal(p.fromEvent(ev('task-progress', 2, { custom_state: 'PROGRESS', done: 1, total: 2 })), undefined, 'the same line twice');
});

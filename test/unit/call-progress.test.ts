import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskProgress } from '../../runtime/src/cli/call-watch.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';

const ID = '1a2b3c4d-0000-4000-8000-000000000000';
let clock = 0;
const ev = (type: string, extra: Record<string, unknown> = {}) => ({ type, hostname: 'w1@h', pid: 1, clock: ++clock, timestamp: clock, utcoffset: 0, uuid: ID, ...extra }) as unknown as SprigEvent;

test("call --wait's progress: one line per change, with the retries so far; other tasks and the outcome are not its business", () => {
  const p = new TaskProgress(ID);
  assert.equal(p.fromEvent(ev('task-sent')), undefined);
  assert.equal(p.fromEvent(ev('task-received', { retries: 0 })), 'sprig: 1a2b3c4d RECEIVED by w1@h');
  assert.equal(p.fromEvent(ev('task-received', { retries: 0 })), undefined, 'the same line twice');
  assert.equal(p.fromEvent(ev('task-started')), 'sprig: 1a2b3c4d STARTED on w1@h');
  assert.equal(p.fromEvent(ev('task-retried', { exception: 'TypeError("upstream timed out")' })), 'sprig: 1a2b3c4d RETRY on w1@h: TypeError("upstream timed out") (retries so far: 1)');
  assert.equal(p.fromEvent(ev('task-received', { retries: 1, hostname: 'w2@h' })), 'sprig: 1a2b3c4d RECEIVED by w2@h (retries so far: 1)');
  assert.equal(p.fromEvent(ev('task-started', { uuid: 'other' })), undefined);
  assert.equal(p.fromEvent(ev('task-succeeded', { result: '5' })), undefined);
  assert.equal(p.fromHeld({ hostname: 'w2@h', how: 'active' }), 'sprig: 1a2b3c4d STARTED on w2@h (retries so far: 1)');
  assert.equal(new TaskProgress(ID).fromHeld({ hostname: 'w@h', how: 'scheduled' }), 'sprig: 1a2b3c4d RECEIVED by w@h (waiting for its ETA)');
});

test('retries so far stay right when a retry\'s new delivery is received before its task-retried event', () => {
  const p = new TaskProgress(ID);
  p.fromEvent(ev('task-received', { retries: 0 }));
  p.fromEvent(ev('task-started'));
  assert.equal(p.fromEvent(ev('task-received', { retries: 1 })), 'sprig: 1a2b3c4d RECEIVED by w1@h (retries so far: 1)');
  assert.equal(p.fromEvent(ev('task-retried', { exception: 'E' })), 'sprig: 1a2b3c4d RETRY on w1@h: E (retries so far: 1)');
  assert.equal(p.fromEvent(ev('task-started')), 'sprig: 1a2b3c4d STARTED on w1@h (retries so far: 1)');
});

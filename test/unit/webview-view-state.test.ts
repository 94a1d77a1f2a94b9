import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { ViewState } from '../../webview-ui/src/view-state.js';

let clock = 0;
const ev = (type: string, hostname: string, extra: Record<string, unknown>) => ({ type, hostname, pid: 1, clock: ++clock, timestamp: 1000 + clock, utcoffset: 0, ...extra }) as unknown as SprigEvent;
const recv = (uuid: string, name: string, host: string) => ev('task-received', host, { uuid, name, args: '()', kwargs: '{}', retries: 0, eta: null, expires: null, root_id: null, parent_id: null });
const online = (host: string) => ev('worker-online', host, { freq: 2, active: 0, processed: 0, loadavg: [0.1], sw_ident: 'sprig', sw_ver: '0', sw_sys: 'Linux' });

/** A started view with two workers and three tasks, its rows built, and the frames it asked for. */
function started() {
  const frames = { requested: 0 };
  const view = new ViewState(() => frames.requested++);
  view.applyEvents([online('a@h'), online('b@h'), recv('t1', 'add', 'a@h'), recv('t2', 'boom', 'a@h'), recv('t3', 'add', 'b@h')]);
  assert.equal(frames.requested, 0, 'no frame before start()');
  view.start();
  frame(view);
  return { view, frames };
}
/** A frame as main.ts runs it, without the DOM: what it redrew. */
function frame(view: ViewState): { rows: boolean; status: boolean } {
  const rows = view.beginFrame(5000);
  return { rows, status: view.takeStatusStale() };
}
const keys = (view: ViewState) => view.rows.map((r) => r.key);

test('one frame at a time; a frame redraws what went stale', () => {
  const { view, frames } = started();
  assert.equal(frames.requested, 1);
  view.invalidate('view');
  view.invalidate('status');
  assert.equal(frames.requested, 2, 'one frame pending, however many changes');
  assert.deepEqual(frame(view), { rows: false, status: true });
  view.invalidate('view');
  assert.deepEqual(frame(view), { rows: false, status: false });
  view.invalidate();
  assert.deepEqual(frame(view), { rows: true, status: true });
  assert.equal(frames.requested, 4);
});

test('the selection starts on the first row, is clamped, and stays on its row when rows move', () => {
  const { view } = started();
  assert.equal(view.selectedKey, 'w:a@h');
  assert.equal(view.select(99), view.rows.length - 1);
  assert.equal(view.select(-5), 0);
  view.select(2);
  assert.equal(view.selectedKey, 't:t1');
  view.applyEvents([recv('t0', 'add', 'a@h')]);
  frame(view);
  assert.deepEqual(keys(view).slice(0, 4), ['w:a@h', 't:t0', 't:t2', 't:t1']);
  assert.equal(view.selectedKey, 't:t1');
  assert.equal(view.selectedIndex(), 3);
  view.selectKey('t:gone');
  frame(view);
  assert.equal(view.selectedKey, 'w:a@h', 'a row that is gone: the first row');
});

test('expanding and collapsing; filters; clear keeps the workers', () => {
  const { view } = started();
  const worker = view.rows[0]!;
  assert.ok(worker.kind === 'worker');
  view.toggleExpanded(worker);
  frame(view);
  assert.deepEqual(keys(view), ['w:a@h', 'w:b@h', 't:t3']);
  view.toggleExpanded(worker);
  frame(view);
  const task = view.rows[1]!;
  assert.ok(task.kind === 'task');
  view.toggleExpanded(task);
  frame(view);
  assert.ok(view.rows.some((r) => r.kind === 'detail' && r.taskId === 't2'));
  view.setFilters({ id: '', name: 'ADD', worker: '', state: undefined });
  frame(view);
  assert.deepEqual(keys(view), ['w:a@h', 't:t1', 'w:b@h', 't:t3']);
  view.setFilters({ id: '', name: '', worker: 'b@h', state: 'RECEIVED' });
  frame(view);
  assert.deepEqual(keys(view), ['w:b@h', 't:t3']);
  view.clear();
  frame(view);
  assert.deepEqual(keys(view), ['w:b@h']);
});

test('revealing a task lifts what hides it; an unknown task becomes the id search', () => {
  const { view } = started();
  const worker = view.rows[0]!;
  assert.ok(worker.kind === 'worker');
  view.toggleExpanded(worker);
  view.setFilters({ id: '', name: '', worker: 'b@h', state: 'FAILURE' });
  frame(view);
  assert.deepEqual(keys(view), ['w:b@h']);
  assert.equal(view.revealTask('t2'), true);
  frame(view);
  assert.deepEqual(keys(view), ['w:a@h', 't:t2', 't:t1', 'w:b@h', 't:t3']);
  assert.equal(view.selectedKey, 't:t2');
  assert.equal(view.revealTask('t9'), false);
  frame(view);
  assert.deepEqual(keys(view), [], 'searching for t9, not yet here');
  view.applyEvents([recv('t9', 'add', 'b@h')]);
  frame(view);
  assert.deepEqual(keys(view), ['w:b@h', 't:t9']);
});

test('events per second, pause and connection', () => {
  const { view } = started();
  view.tick();
  assert.equal(view.eventsPerSec, 5);
  view.tick();
  assert.equal(view.eventsPerSec, 0);
  view.setPaused(true);
  assert.equal(view.paused, true);
  view.setConnection({ brokerUrl: 'redis://x', connected: false, error: 'ECONNREFUSED' });
  assert.deepEqual(view.connection, { brokerUrl: 'redis://x', connected: false, error: 'ECONNREFUSED' });
  assert.deepEqual(frame(view), { rows: true, status: true });
});

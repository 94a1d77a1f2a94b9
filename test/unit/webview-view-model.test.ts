import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterState } from '../../runtime/src/events/state.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { buildRows, NO_FILTERS, parentIndex, rowTaskId, taskDescription, UNASSIGNED, type Filters, type TreeOptions } from '../../webview-ui/src/view-model.js';
import { parseTraceback, isUserFrame } from '../../webview-ui/src/traceback.js';
import { formatDuration } from '../../webview-ui/src/format.js';

let clock = 0;
const ev = (type: string, hostname: string, extra: Record<string, unknown>) => ({ type, hostname, pid: 1, clock: ++clock, timestamp: 1000 + clock, utcoffset: 0, ...extra }) as unknown as SprigEvent;
const recv = (uuid: string, name: string, host: string) => ev('task-received', host, { uuid, name, args: '(1,)', kwargs: '{}', retries: 0, eta: null, expires: null, root_id: null, parent_id: null });
const online = (host: string) => ev('worker-online', host, { freq: 2, active: 0, processed: 0, loadavg: [0.1], sw_ident: 'sprig', sw_ver: '0', sw_sys: 'Linux', local_received: 5000 });

function fixture(): ClusterState {
  const s = new ClusterState({ now: () => 5001 });
  s.apply(online('a@h'));
  s.apply(online('b@h'));
  s.apply(recv('t1', 'add', 'a@h'));
  s.apply(recv('t2', 'boom', 'a@h'));
  s.apply(ev('task-failed', 'a@h', { uuid: 't2', exception: "RangeError('no')", traceback: 'RangeError: no\n    at boom (/ws/tasks.ts:7:9)\n    at node:internal/x:1:1' }));
  s.apply(recv('t3', 'add', 'b@h'));
  s.apply(ev('task-sent', 'gen@h', { uuid: 't4', name: 'add', args: '()', kwargs: '{}', retries: 0, eta: null, expires: null, queue: 'nowhere', exchange: '', routing_key: 'nowhere', root_id: null, parent_id: null }));
  return s;
}
const opts = (filters: Partial<Filters> = {}, more: Partial<TreeOptions> = {}): TreeOptions => ({
  filters: { ...NO_FILTERS, ...filters },
  collapsedWorkers: new Set(),
  expandedTasks: new Set(),
  now: 5001,
  ...more,
});

test('workers → tasks (newest first), with a group for tasks no worker has yet', () => {
  const rows = buildRows(fixture(), opts());
  assert.deepEqual(rows.map((r) => r.key), ['w:a@h', 't:t2', 't:t1', 'w:b@h', 't:t3', `w:${UNASSIGNED}`, 't:t4']);
  const w = rows[0]!;
  assert.ok(w.kind === 'worker' && w.alive && w.count === 2);
});

test('filters: by state, name, worker; id search shows only matching groups', () => {
  const s = fixture();
  assert.deepEqual(buildRows(s, opts({ states: new Set(['FAILURE']) })).filter((r) => r.kind === 'task').map((r) => r.key), ['t:t2']);
  assert.deepEqual(buildRows(s, opts({ name: 'AD' })).filter((r) => r.kind === 'task').map((r) => r.key), ['t:t1', 't:t3', 't:t4']);
  assert.deepEqual(buildRows(s, opts({ worker: 'b@h' })).map((r) => r.key), ['w:b@h', 't:t3']);
  assert.deepEqual(buildRows(s, opts({ id: 'T3' })).map((r) => r.key), ['w:b@h', 't:t3']);
});

test('collapsing a worker hides its tasks; expanding a task shows details and linked frames', () => {
  const s = fixture();
  const rows = buildRows(s, opts({}, { collapsedWorkers: new Set(['a@h']), expandedTasks: new Set(['t3']) }));
  assert.equal(rows[0]!.key, 'w:a@h');
  assert.equal(rows[1]!.key, 'w:b@h');
  const open = buildRows(s, opts({}, { expandedTasks: new Set(['t2']) }));
  const frames = open.filter((r) => r.kind === 'frame');
  assert.equal(frames.length, 3);
  const linked = frames.filter((r) => r.kind === 'frame' && r.loc);
  assert.equal(linked.length, 1, 'node:internal frames are not links');
  assert.deepEqual(linked[0]!.kind === 'frame' && linked[0]!.loc, { file: '/ws/tasks.ts', line: 7, column: 9 });
  const exc = open.find((r) => r.kind === 'detail' && r.label === 'exception');
  assert.ok(exc && exc.kind === 'detail' && exc.value.includes('RangeError'));
  assert.equal(rowTaskId(exc), 't2');
  assert.equal(open[parentIndex(open, open.indexOf(exc!))]!.key, 't:t2');
});

test('traceback parsing: JS frames, file:// URLs, Python frames; user frames', () => {
  const lines = parseTraceback(
    'Error: x\n    at fn (/a/b.ts:3:4)\n    at /a/c.js:10:2\n    at async g (file:///a/d%20e.mjs:1:1)\n  File "/py/tasks.py", line 12, in add\n    at new Promise (<anonymous>)',
  );
  assert.deepEqual(lines.map((l) => l.loc && `${l.loc.file}:${l.loc.line}:${l.loc.column}`), [undefined, '/a/b.ts:3:4', '/a/c.js:10:2', '/a/d e.mjs:1:1', '/py/tasks.py:12:1', undefined]);
  assert.equal(isUserFrame({ file: '/x/node_modules/y.js', line: 1, column: 1 }), false);
  assert.equal(isUserFrame({ file: '/ws/tasks.ts', line: 1, column: 1 }), true);
});

test('row text: durations, retries, exception', () => {
  assert.equal(formatDuration(0.0123), '12 ms');
  assert.equal(formatDuration(2.5), '2.50 s');
  const s = fixture();
  assert.match(taskDescription(s.tasks.get('t2')!), /RangeError/);
});

// The frame budget is `npm run bench:monitor`'s to check; here the rebuild's rows, with its time printed.
test('100,000 tasks: one rebuild gives every row (time printed)', () => {
  const s = new ClusterState({ maxTasks: 100_000 });
  for (let w = 0; w < 4; w++) s.apply(online(`w${w}@h`));
  for (let i = 0; i < 100_000; i++) s.apply(recv(`id-${i}`, i % 3 ? 'add' : 'boom', `w${i % 4}@h`));
  buildRows(s, opts());
  const t0 = performance.now();
  const rows = buildRows(s, opts());
  const ms = performance.now() - t0;
  assert.equal(rows.length, 100_004);
  console.log(`  rebuild of 100,004 rows: ${ms.toFixed(1)} ms`);
});

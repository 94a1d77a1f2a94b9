import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterState } from '../../runtime/src/events/state.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { buildRows, NO_FILTERS, parentIndex, rowTaskId, scheduledFor, splitHostname, taskDescription, UNASSIGNED, workerDescription, workerFigures, type Filters, type TreeOptions } from '../../webview-ui/src/view-model.js';
import { compactJson, shownValue } from '../../webview-ui/src/values.js';
import { parseTraceback, isUserFrame } from '../../webview-ui/src/traceback.js';
import { formatClock, formatDuration, formatElapsed } from '../../webview-ui/src/format.js';

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

test("the worker row says a failed autoreload first (and that the old code runs), until a reload works", () => {
  const s = fixture();
  const w = s.workers.get('a@h')!;
  assert.match(workerDescription(w, true, 5001), /^online · 0 active · 0 processed · load 0\.10 · heartbeat /);
  s.apply(ev('worker-reload', 'a@h', { ok: false, error: '/ws/tasks.ts:3:12: Unexpected "}"', file: '/ws/tasks.ts' }));
  assert.match(workerDescription(w, true, 5001), /^reload failed: \/ws\/tasks\.ts:3:12: Unexpected "}" \(runs the previous code\) · online · /);
  s.apply(ev('worker-reload', 'a@h', { ok: true, file: '/ws/tasks.ts' }));
  assert.match(workerDescription(w, true, 5001), /^online · /);
  assert.equal(workerDescription(null, false, 5001), 'tasks no worker has received yet');
});

test('a running task shows its time so far; a countdown task when it is scheduled for', () => {
  const s = new ClusterState({ now: () => 5001 });
  s.apply(online('a@h'));
  s.apply(recv('run', 'slow', 'a@h'));
  s.apply({ ...ev('task-started', 'a@h', { uuid: 'run' }), timestamp: 4000 } as SprigEvent);
  const running = s.tasks.get('run')!;
  assert.equal(running.state, 'STARTED');
  assert.equal(taskDescription(running, 4000 + 75.4), 'running 1 min 15 s');
  assert.equal(taskDescription(running, 4008.9), 'running 8 s');
  const etaIso = new Date((5000 + 600) * 1000).toISOString();
  s.apply(ev('task-received', 'a@h', { uuid: 'later', name: 'add', args: '(1, 1)', kwargs: '{}', retries: 0, eta: etaIso, expires: null, root_id: null, parent_id: null }));
  const later = s.tasks.get('later')!;
  assert.equal(scheduledFor(later, 5001), 5600);
  assert.equal(taskDescription(later, 5001), `scheduled for ${formatClock(5600)}`);
  assert.match(formatClock(5600), /^\d\d:\d\d:\d\d$/);
  // Its ETA passed (and it still waits for a slot): no "scheduled for" in the past.
  assert.equal(scheduledFor(later, 5700), undefined);
  // Details: the elapsed time, and the ETA as a clock time too.
  const open = buildRows(s, opts({}, { expandedTasks: new Set(['run', 'later']), now: 4010 }));
  const detail = (id: string, label: string) => open.find((r) => r.kind === 'detail' && r.taskId === id && r.label === label);
  assert.equal((detail('run', 'runtime') as { value: string } | undefined)?.value, 'running for 10 s');
  assert.match((detail('later', 'eta') as { value: string }).value, new RegExp(`^${formatClock(5600)} \\(`));
  assert.equal(formatElapsed(3725), '1 h 2 min');
});

test('args, kwargs and results are shown as JSON when the repr reads back exactly, else as the repr', () => {
  assert.deepEqual(shownValue("(2, 'x', None, True)", 'args'), { text: '[2, "x", null, true]', json: true });
  assert.deepEqual(shownValue("{'y': [1, 2.5], 'name': 'o\\'k'}", 'kwargs'), { text: '{"y": [1, 2.5], "name": "o\'k"}', json: true });
  assert.deepEqual(shownValue('5'), { text: '5', json: true });
  assert.deepEqual(shownValue("'done'"), { text: '"done"', json: true });
  // All there is: an object repr, a value cut short, an integer JSON cannot hold exactly.
  assert.deepEqual(shownValue('<Payment object at 0x7f>'), { text: '<Payment object at 0x7f>', json: false });
  assert.deepEqual(shownValue("('aaaa...", 'args'), { text: "('aaaa...", json: false });
  assert.deepEqual(shownValue('(12345678901234567890,)', 'args'), { text: '(12345678901234567890,)', json: false });
  assert.equal(compactJson({ a: [1, { b: null }] }), '{"a": [1, {"b": null}]}');

  const s = new ClusterState({ now: () => 5001 });
  s.apply(recv('t', 'add', 'a@h'));
  s.apply(ev('task-succeeded', 'a@h', { uuid: 't', result: "{'total': 3, 'ok': True}", runtime: 0.002 }));
  assert.equal(taskDescription(s.tasks.get('t')!, 5001), '2.00 ms · → {"total": 3, "ok": true}');
  s.apply(ev('task-received', 'a@h', { uuid: 'u', name: 'pay', args: '(<Card object at 0x1>,)', kwargs: "{'cents': 250}", retries: 0, eta: null, expires: null, root_id: null, parent_id: null }));
  const rows = buildRows(s, opts({}, { expandedTasks: new Set(['t', 'u']) }));
  const d = (id: string, label: string) => rows.find((r) => r.kind === 'detail' && r.taskId === id && r.label === label) as { value: string; repr?: boolean } | undefined;
  assert.deepEqual([d('t', 'args')!.value, d('t', 'args')!.repr], ['[1]', undefined]);
  assert.equal(d('t', 'result')!.value, '{"total": 3, "ok": true}');
  assert.deepEqual([d('u', 'args')!.value, d('u', 'args')!.repr], ['(<Card object at 0x1>,)', true]);
  assert.equal(d('u', 'kwargs')!.value, '{"cents": 250}');
});

test('a worker row in a narrow side bar: the node name whole, short figures', () => {
  assert.deepEqual(splitHostname('sprig4242@build-machine-17.example.internal'), ['sprig4242', '@build-machine-17.example.internal']);
  assert.deepEqual(splitHostname('plain'), ['plain', '']);
  const w = fixture().workers.get('a@h')!;
  const f = workerFigures(w, true, 5001);
  assert.equal(f.stats, 'online · 0 active · 0 processed');
  assert.equal(f.short, '0 active · 0 done');
  assert.match(f.extra, /^ · load 0\.10 · heartbeat /);
  assert.equal(workerDescription(w, true, 5001), `${f.stats}${f.extra}`);
});

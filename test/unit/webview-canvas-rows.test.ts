import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterState } from '../../runtime/src/events/state.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { canvasRows, CANVAS_ROWS_SHOWN } from '../../webview-ui/src/canvas-rows.js';
import { buildRows } from '../../webview-ui/src/view-model.js';

let clock = 0;
const ev = (type: string, uuid: string, extra: Record<string, unknown> = {}) =>
  ({ type, hostname: 'w1@h', pid: 1, clock: ++clock, timestamp: clock, utcoffset: 0, uuid, ...extra }) as unknown as SprigEvent;
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** chain(a, chord([p1, p2], body)): a is the root; p1, p2 children of a in group g naming body. */
function chainToChord(parts = 2): ClusterState {
  const s = new ClusterState();
  const root = id(1);
  s.apply(ev('task-received', root, { name: 'a', root_id: root }));
  s.apply(ev('task-succeeded', root, { result: '1', runtime: 0.1 }));
  for (let i = 0; i < parts; i++) s.apply(ev('task-received', id(1000 + i), { name: 'part', root_id: root, parent_id: root, group: 'g1', chord: id(2) }));
  s.apply(ev('task-received', id(2), { name: 'body', root_id: root, parent_id: id(1000) }));
  s.apply(ev('task-received', id(99), { name: 'alone' }));
  return s;
}

test('canvasRows: the chain step, the chord header parts under it, the body after them; each task a link, this one marked', () => {
  const s = chainToChord();
  const body = s.tasks.get(id(2))!;
  const rows = canvasRows(s.tasks.values(), body);
  assert.deepEqual(
    rows.map((r) => r.value.replaceAll('\u00a0', ' ')),
    ['a SUCCESS', '  └ chord of 2', '    └ part RECEIVED', '    └ part RECEIVED', '    └ then (chord body):', '      └ body RECEIVED ◀ this task'],
  );
  assert.equal(rows[0]!.label, 'canvas');
  assert.deepEqual(rows.map((r) => r.linkTask), [id(1), undefined, id(1000), id(1001), undefined, id(2)]);
  // The same tree from any of its tasks; none for a task on its own.
  assert.equal(canvasRows(s.tasks.values(), s.tasks.get(id(1001))!).length, 6);
  assert.deepEqual(canvasRows(s.tasks.values(), s.tasks.get(id(99))!), []);
});

test('canvasRows: a chord of many parts is cut at CANVAS_ROWS_SHOWN lines and says how many more', () => {
  const s = chainToChord(100);
  const rows = canvasRows(s.tasks.values(), s.tasks.get(id(1))!);
  assert.equal(rows.length, CANVAS_ROWS_SHOWN + 1);
  assert.match(rows.at(-1)!.value, /… 64 more lines/);
});

test('buildRows: an expanded task of a canvas carries the canvas rows (marked canvas) after its details', () => {
  const s = chainToChord();
  const rows = buildRows(s, { filters: { states: new Set(), name: '', worker: '', id: '', query: null } as never, collapsedWorkers: new Set(), expandedTasks: new Set([id(1)]), now: 100 });
  const cv = rows.filter((r) => r.kind === 'detail' && r.canvas);
  assert.equal(cv.length, 6);
  assert.ok(cv.every((r) => r.kind === 'detail' && r.taskId === id(1)));
});

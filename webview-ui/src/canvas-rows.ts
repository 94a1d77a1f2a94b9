/**
 * The "canvas" block of a task's details: the canvas the task belongs to (its chain steps, groups,
 * a chord's header and body: canvas-tree.ts) as indented detail rows, each task a link that
 * selects it, the task itself marked. Pure (no DOM), like timeline.ts.
 */
import type { TaskInfo } from '../../runtime/src/events/state.js';
import { buildCanvasTrees, type CanvasNode } from './canvas-tree.js';
import type { TimelineRow } from './timeline.js';

/** Lines shown at most (a chord of 1,000 parts stays one screen; the count is said). */
export const CANVAS_ROWS_SHOWN = 40;

const contains = (n: CanvasNode, id: string): boolean =>
  n.kind === 'task' ? n.task.uuid === id || n.children.some((c) => contains(c, id)) : n.children.some((c) => contains(c, id)) || (!!n.body && contains(n.body, id)) || n.bodyId === id;

function lines(n: CanvasNode, self: string, depth: number, out: TimelineRow[]): void {
  const pad = '\u00a0\u00a0'.repeat(depth) + (depth ? '└ ' : '');
  if (n.kind === 'task') {
    const t = n.task;
    out.push({ label: '', value: `${pad}${t.name ?? '?'} ${t.state}${t.uuid === self ? ' ◀ this task' : ''}`, linkTask: t.uuid });
    for (const c of n.children) lines(c, self, depth + 1, out);
    return;
  }
  out.push({ label: '', value: `${pad}${n.kind} of ${n.children.length}` });
  for (const c of n.children) lines(c, self, depth + 1, out);
  if (n.kind !== 'chord') return;
  const bodyPad = '\u00a0\u00a0'.repeat(depth + 1) + '└ ';
  if (n.body) {
    out.push({ label: '', value: `${bodyPad}then (chord body):` });
    lines(n.body, self, depth + 2, out);
  } else out.push({ label: '', value: `${bodyPad}then (chord body): ${n.bodyId ?? '?'} not seen yet` });
}

/**
 * The rows of the canvas `t` is part of, among `tasks` (those of its root are looked at); none when
 * `t` is not part of a canvas of two tasks or more.
 */
export function canvasRows(tasks: Iterable<TaskInfo>, t: TaskInfo): TimelineRow[] {
  const root = t.rootId ?? t.uuid;
  const family: TaskInfo[] = [];
  for (const x of tasks) if ((x.rootId ?? x.uuid) === root || x.uuid === root) family.push(x);
  if (family.length < 2) return [];
  const tree = buildCanvasTrees(family).find((n) => contains(n, t.uuid));
  if (!tree) return [];
  const out: TimelineRow[] = [];
  lines(tree, t.uuid, 0, out);
  const shown = out.slice(0, CANVAS_ROWS_SHOWN);
  if (out.length > CANVAS_ROWS_SHOWN) shown.push({ label: '', value: `… ${out.length - CANVAS_ROWS_SHOWN} more lines` });
  shown[0]!.label = 'canvas';
  return shown;
}

/**
 * A canvas as a tree (issue 15, item 5), from what the task events carry: `parent_id` (Celery's and
 * ours: the next chain step's parent is the step before it, a callback's the task it follows),
 * and Sprig's `group` / `chord` on task-received (a group member's group id; a chord part's body
 * task id). Celery 5.2's events carry neither `group` nor `chord`: its canvases still show as a
 * parent → children tree, without the group/chord headers.
 *
 * - a task's children are the tasks whose parent it is;
 * - members of one group under one parent are gathered under a `group` node;
 * - a group whose members name a chord body is a `chord` node, the body under it (after the header
 *   parts), not under the body's own parent.
 *
 * Pure (no DOM), like view-model.ts.
 */
import type { TaskInfo } from '../../runtime/src/events/state.js';

export interface CanvasTaskNode {
  kind: 'task';
  task: TaskInfo;
  children: CanvasNode[];
}
export interface CanvasGroupNode {
  kind: 'group' | 'chord';
  /** The group id. */
  id: string;
  /** The header parts (the group's members), in the order they were sent or received. */
  children: CanvasTaskNode[];
  /** A chord's body (its task id and, once seen, the task). */
  bodyId?: string;
  body?: CanvasTaskNode;
}
export type CanvasNode = CanvasTaskNode | CanvasGroupNode;

const seenAt = (t: TaskInfo) => t.sent ?? t.received ?? t.timestamp;

/**
 * The canvases among `tasks`: one tree per root (a task with no parent in `tasks`, or a group sent
 * from outside a task, e.g. a chord applied by a client) that has more than one task; single tasks
 * are left out. Newest first.
 */
export function buildCanvasTrees(tasks: Iterable<TaskInfo>): CanvasNode[] {
  const byId = new Map<string, TaskInfo>();
  for (const t of tasks) byId.set(t.uuid, t);
  // Chord bodies: shown under their chord, not under their parent.
  const bodyOf = new Map<string, string>();
  for (const t of byId.values()) if (t.group && t.chord) bodyOf.set(t.group, t.chord);
  const bodies = new Set(bodyOf.values());
  const parentOf = (t: TaskInfo) => (t.parentId && t.parentId !== t.uuid && byId.has(t.parentId) ? t.parentId : null);
  const kids = new Map<string | null, TaskInfo[]>();
  for (const t of byId.values()) {
    if (bodies.has(t.uuid)) continue;
    const p = parentOf(t);
    let list = kids.get(p);
    if (!list) kids.set(p, (list = []));
    list.push(t);
  }
  const childrenOf = (parent: string | null, path: ReadonlySet<string>): CanvasNode[] => {
    const out: CanvasNode[] = [];
    const groups = new Map<string, CanvasGroupNode>();
    for (const c of [...(kids.get(parent) ?? [])].sort((a, b) => seenAt(a) - seenAt(b))) {
      if (!c.group) {
        out.push(node(c, path));
        continue;
      }
      let g = groups.get(c.group);
      if (!g) {
        const bodyId = bodyOf.get(c.group);
        g = { kind: bodyId ? 'chord' : 'group', id: c.group, children: [], ...(bodyId ? { bodyId } : {}) };
        const b = bodyId ? byId.get(bodyId) : undefined;
        if (b) g.body = node(b, path);
        groups.set(c.group, g);
        out.push(g);
      }
      g.children.push(node(c, path));
    }
    return out;
  };
  const node = (t: TaskInfo, path: ReadonlySet<string>): CanvasTaskNode =>
    // A cycle of parent ids (hostile or corrupt events) stops at the repeat.
    ({ kind: 'task', task: t, children: path.has(t.uuid) ? [] : childrenOf(t.uuid, new Set(path).add(t.uuid)) });
  const first = (n: CanvasNode): number => (n.kind === 'task' ? seenAt(n.task) : Math.min(...n.children.map((c) => seenAt(c.task))));
  return childrenOf(null, new Set())
    .filter((n) => n.kind !== 'task' || n.children.length > 0)
    .sort((a, b) => first(b) - first(a));
}

/** Indented text lines of a tree (what the monitor shows; used by tests and the accessible text). */
export function canvasTreeLines(n: CanvasNode, depth = 0): string[] {
  const pad = '  '.repeat(depth);
  if (n.kind === 'task') {
    return [`${pad}${n.task.name ?? '?'} ${n.task.state}`, ...n.children.flatMap((c) => canvasTreeLines(c, depth + 1))];
  }
  const head = `${pad}${n.kind} (${n.children.length})`;
  const lines = [head, ...n.children.flatMap((c) => canvasTreeLines(c, depth + 1))];
  if (n.kind === 'chord') {
    lines.push(`${pad}  body:`);
    lines.push(...(n.body ? canvasTreeLines(n.body, depth + 2) : [`${pad}    ${n.bodyId} (not seen yet)`]));
  }
  return lines;
}

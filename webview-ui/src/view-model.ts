/**
 * The monitor's tree as a flat list of rows (workers → tasks → details), built from the
 * ClusterState, the filters and what is expanded. Pure (no DOM): unit-tested, and cheap enough to
 * rebuild once per animation frame with 100,000 tasks.
 */
import type { ClusterState, TaskInfo, TaskStateName, WorkerInfo } from '../../runtime/src/events/state.js';
import { parseTraceback, type FrameLocation } from './traceback.js';
import { formatAgo, formatClock, formatDuration, formatElapsed, formatTime } from './format.js';
import { shownValue } from './values.js';
import { matchesQuery, type TaskQuery } from '../../runtime/src/events/query.js';
import { timelineRows } from './timeline.js';
import { canvasRows } from './canvas-rows.js';

export interface Filters {
  /** Empty: every state. */
  states: ReadonlySet<TaskStateName>;
  /** Case-insensitive substring of the task name. */
  name: string;
  /** A worker hostname, or '' for all. */
  worker: string;
  /** Substring of the task id; when set, matching tasks show wherever they are. */
  id: string;
  /** The search box's query (runtime/src/events/query.ts), when it has one. */
  query?: TaskQuery;
}

export const NO_FILTERS: Filters = { states: new Set(), name: '', worker: '', id: '' };

/** Tasks no worker has received yet (task-sent only) group under this key. */
export const UNASSIGNED = '(waiting)';

export interface WorkerRow {
  kind: 'worker';
  key: string;
  depth: 0;
  hostname: string;
  worker: WorkerInfo | null;
  alive: boolean;
  /** Matching tasks under it. */
  count: number;
  expanded: boolean;
}
export interface TaskRow {
  kind: 'task';
  key: string;
  depth: 1;
  task: TaskInfo;
  expanded: boolean;
}
export interface DetailRow {
  kind: 'detail';
  key: string;
  depth: 2;
  taskId: string;
  label: string;
  value: string;
  /** A task id the value links to (retry of / retried as). */
  linkTask?: string;
  /** The value is the Python repr the event carried (it did not read back as JSON exactly). */
  repr?: boolean;
  /** A row of the task's timeline (timeline.ts). */
  timeline?: boolean;
  /** A row of the canvas the task is part of (canvas-rows.ts). */
  canvas?: boolean;
}
export interface FrameRow {
  kind: 'frame';
  key: string;
  depth: 2;
  taskId: string;
  text: string;
  loc?: FrameLocation;
}
export type Row = WorkerRow | TaskRow | DetailRow | FrameRow;

export interface TreeOptions {
  filters: Filters;
  /** Worker keys collapsed by the user (workers start expanded). */
  collapsedWorkers: ReadonlySet<string>;
  /** Task ids expanded by the user. */
  expandedTasks: ReadonlySet<string>;
  /** Seconds since the epoch (for `alive`). */
  now: number;
}

export function matches(t: TaskInfo, f: Filters, nameLower: string, idLower: string): boolean {
  if (f.states.size > 0 && !f.states.has(t.state)) return false;
  if (nameLower && !(t.name ?? '').toLowerCase().includes(nameLower)) return false;
  if (f.worker && (t.worker ?? UNASSIGNED) !== f.worker) return false;
  if (idLower && !t.uuid.toLowerCase().includes(idLower)) return false;
  if (f.query && !matchesQuery(t, f.query)) return false;
  return true;
}

/** Ids of the tasks whose parent is `id`, oldest first (only for an expanded task: a scan of the state). */
export function childrenOf(state: ClusterState, id: string): string[] {
  const out: string[] = [];
  for (const t of state.tasks.values()) if (t.parentId === id && t.uuid !== id) out.push(t.uuid);
  return out;
}

export function buildRows(state: ClusterState, o: TreeOptions): Row[] {
  const f = o.filters;
  const nameLower = f.name.trim().toLowerCase();
  const idLower = f.id.trim().toLowerCase();
  const groups = new Map<string, TaskInfo[]>();
  for (const h of [...state.workers.keys()].sort()) {
    if (!f.worker || f.worker === h) groups.set(h, []);
  }
  // Newest first: walk the insertion-ordered map backwards.
  const all = [...state.tasks.values()];
  for (let i = all.length - 1; i >= 0; i--) {
    const t = all[i]!;
    if (!matches(t, f, nameLower, idLower)) continue;
    const g = t.worker ?? UNASSIGNED;
    let list = groups.get(g);
    if (!list) groups.set(g, (list = []));
    list.push(t);
  }
  const rows: Row[] = [];
  // An id search or a query shows only the workers with matching tasks (none left: the list says so).
  const searching = idLower !== '' || !!f.query;
  for (const [hostname, tasks] of groups) {
    if (searching && tasks.length === 0) continue;
    const worker = state.workers.get(hostname) ?? null;
    const expanded = searching || !o.collapsedWorkers.has(hostname);
    rows.push({ kind: 'worker', key: `w:${hostname}`, depth: 0, hostname, worker, alive: worker ? state.isAlive(worker, o.now) : false, count: tasks.length, expanded });
    if (!expanded) continue;
    for (const t of tasks) {
      const open = o.expandedTasks.has(t.uuid);
      rows.push({ kind: 'task', key: `t:${t.uuid}`, depth: 1, task: t, expanded: open });
      if (open) {
        pushDetails(rows, t, o.now, childrenOf(state, t.uuid));
        pushCanvas(rows, state, t);
      }
    }
  }
  return rows;
}

export function pushDetails(rows: Row[], t: TaskInfo, now = Date.now() / 1000, children: readonly string[] = []): void {
  const d = (label: string, value: string | null | undefined, linkTask?: string, repr?: boolean) => {
    if (value === null || value === undefined || value === '') return;
    rows.push({ kind: 'detail', key: `d:${t.uuid}:${label}`, depth: 2, taskId: t.uuid, label, value, linkTask, ...(repr ? { repr } : {}) });
  };
  const v = (label: string, repr: string | null, kind: 'args' | 'kwargs' | 'value') => {
    if (repr === null || repr === '') return;
    const shown = shownValue(repr, kind);
    d(label, shown.text, undefined, !shown.json);
  };
  d('id', t.uuid);
  v('args', t.args, 'args');
  v('kwargs', t.kwargs, 'kwargs');
  v('result', t.state === 'SUCCESS' ? t.result : null, 'value');
  d('exception', t.exception);
  d('retries', t.retries ? String(t.retries) : null);
  d('runtime', t.runtime != null ? formatDuration(t.runtime) : t.state === 'STARTED' && t.started ? `running for ${formatElapsed(now - t.started)}` : null);
  d('worker', t.worker);
  d('queue', t.routingKey ?? t.queue);
  d('eta', t.eta ? `${formatClock(t.eta)} (${t.eta})` : null);
  d('expires', t.expires);
  d('retry of', t.retryOf, t.retryOf ?? undefined);
  d('retried as', t.retriedAs, t.retriedAs ?? undefined);
  d('parent', t.parentId, t.parentId ?? undefined);
  const times = (
    [
      ['sent', t.sent],
      ['received', t.received],
      ['started', t.started],
      ['succeeded', t.succeeded],
      ['failed', t.failed],
      ['retried', t.retried],
      ['revoked', t.revoked],
      ['rejected', t.rejected],
    ] as const
  )
    .filter(([, v]) => v)
    .map(([k, v]) => `${k} ${formatTime(v)}`)
    .join(' · ');
  d('times', times);
  // The timeline: every attempt, progress, root and children (timeline.ts).
  timelineRows(t, children).forEach((r, i) => rows.push({ kind: 'detail', key: `d:${t.uuid}:tl${i}`, depth: 2, taskId: t.uuid, label: r.label, value: r.value, linkTask: r.linkTask, timeline: true }));
  if (t.traceback) {
    parseTraceback(t.traceback).forEach((line, i) => {
      rows.push({ kind: 'frame', key: `f:${t.uuid}:${i}`, depth: 2, taskId: t.uuid, text: line.text, loc: line.loc });
    });
  }
}

/** The canvas the task is part of, as a tree of links (canvas-rows.ts). */
export function pushCanvas(rows: Row[], state: ClusterState, t: TaskInfo): void {
  canvasRows(state.tasks.values(), t).forEach((r, i) => rows.push({ kind: 'detail', key: `d:${t.uuid}:cv${i}`, depth: 2, taskId: t.uuid, label: r.label, value: r.value, linkTask: r.linkTask, canvas: true }));
}

/** Index of the row to select after `key` disappeared or for a parent (Left arrow). */
export function parentIndex(rows: readonly Row[], index: number): number {
  const depth = rows[index]?.depth ?? 0;
  for (let i = index - 1; i >= 0; i--) if (rows[i]!.depth < depth) return i;
  return index;
}

/** The task a row belongs to (task, detail or frame row). */
export function rowTaskId(r: Row | undefined): string | undefined {
  if (!r) return undefined;
  if (r.kind === 'task') return r.task.uuid;
  if (r.kind === 'detail' || r.kind === 'frame') return r.taskId;
  return undefined;
}

/** When a task held for its ETA (a countdown) runs: epoch seconds, or undefined when it is not waiting for one. */
export function scheduledFor(t: TaskInfo, now: number): number | undefined {
  if (!t.eta || (t.state !== 'RECEIVED' && t.state !== 'PENDING')) return undefined;
  const at = Date.parse(t.eta) / 1000;
  return Number.isFinite(at) && at > now ? at : undefined;
}

/**
 * Short text of a task row: how long it has run (running: the time so far), when a countdown task
 * is scheduled for, retries, the exception or the result (JSON when the repr reads back exactly).
 */
export function taskDescription(t: TaskInfo, now = Date.now() / 1000): string {
  const parts: string[] = [];
  const at = scheduledFor(t, now);
  if (at !== undefined) parts.push(`scheduled for ${formatClock(at)}`);
  if (t.runtime != null) parts.push(formatDuration(t.runtime));
  else if (t.state === 'STARTED' && t.started) parts.push(`running ${formatElapsed(now - t.started)}`);
  if (t.retries) parts.push(`retries ${t.retries}`);
  if (t.state === 'FAILURE' || t.state === 'RETRY' || t.state === 'REJECTED') {
    if (t.exception) parts.push(t.exception.length > 80 ? `${t.exception.slice(0, 77)}...` : t.exception);
  } else if (t.state === 'SUCCESS' && t.result != null) {
    const r = shownValue(t.result).text;
    parts.push(`→ ${r.length > 40 ? `${r.slice(0, 37)}...` : r}`);
  }
  if (t.retryOf) parts.push(`retry of ${t.retryOf.slice(0, 8)}`);
  return parts.join(' · ');
}

/** A worker row's figures, the essential first (a narrow side bar shows `short` only). */
export interface WorkerFigures {
  /** A failed autoreload, '' when none. */
  reload: string;
  /** `online · 2 active · 10 processed`. */
  stats: string;
  /** `2 active · 10 done`: what a narrow row has room for (online/offline is the icon's colour). */
  short: string;
  /** ` · load 0.10 · heartbeat 2 s ago`, '' when unknown. */
  extra: string;
}

export function workerFigures(w: WorkerInfo | null, alive: boolean, now: number): WorkerFigures {
  if (!w) return { reload: '', stats: 'tasks no worker has received yet', short: 'not received yet', extra: '' };
  const load = w.loadavg.length ? ` · load ${w.loadavg.map((x) => x.toFixed(2)).join(' ')}` : '';
  const beat = w.lastHeartbeat ? ` · heartbeat ${formatAgo(now - w.lastHeartbeat)}` : '';
  const reload = w.reloadError ? `reload failed: ${w.reloadError.length > 120 ? `${w.reloadError.slice(0, 117)}...` : w.reloadError} (runs the previous code) · ` : '';
  return { reload, stats: `${alive ? 'online' : 'offline'} · ${w.active} active · ${w.processed} processed`, short: `${w.active} active · ${w.processed} done`, extra: `${load}${beat}` };
}

/** The worker row's description: online/offline, counts, load, heartbeat age; a failed autoreload first. */
export function workerDescription(w: WorkerInfo | null, alive: boolean, now: number): string {
  const f = workerFigures(w, alive, now);
  return `${f.reload}${f.stats}${f.extra}`;
}

/** A worker's name `node@host` as its two parts: a narrow row keeps the node and shortens the host. */
export function splitHostname(hostname: string): [node: string, host: string] {
  const at = hostname.indexOf('@');
  return at > 0 ? [hostname.slice(0, at), hostname.slice(at)] : [hostname, ''];
}

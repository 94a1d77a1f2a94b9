/**
 * The one typed protocol between the extension and the monitor webview (GitLens ipc style):
 * commands (webview → extension, no reply), requests (webview → extension, with a reply carrying
 * the same id) and notifications (extension → webview). Each has a type guard. No `vscode` import:
 * the webview bundles this file too.
 */
import type { SprigEvent } from '../../../runtime/src/events/types.js';
import type { TaskInfo, WorkerInfo } from '../../../runtime/src/events/state.js';
import type { QueueInfo } from '../../../runtime/src/control/queue-info.js';
import type { BeatListEntry } from '../../../runtime/src/beat/list-entry.js';

interface MessageType<M extends string> {
  readonly method: M;
}

// ---- commands: webview → extension, fire and forget ----------------------------------------

export interface ReadyCommand { method: 'ready' }
export interface OpenLocationCommand { method: 'openLocation'; params: { file: string; line: number; column: number } }
export interface SetPausedCommand { method: 'setPaused'; params: { paused: boolean } }
export interface ClearCommand { method: 'clear' }

/** A worker row's page button (extension/src/workers/worker-page.ts). */
export interface OpenWorkerPageCommand { method: 'openWorkerPage'; params: { hostname: string } }

export type WebviewCommand = ReadyCommand | OpenLocationCommand | SetPausedCommand | ClearCommand | OpenWorkerPageCommand;

// ---- requests: webview → extension, answered with a Reply of the same id ---------------------

export interface RequestMap {
  retryTask: { params: { taskId: string }; result: { newTaskId: string } };
  revokeTask: { params: { taskId: string; terminate?: boolean }; result: { sent: boolean } };
  /** Debug Task with the exact arguments of this run (extension/src/debug/debug-task.ts). */
  debugTask: { params: { taskId: string }; result: { started: boolean } };
  /** The Queues view (queues-panel.ts): every queue with its counts; read-only. */
  listQueues: { params: Record<string, never>; result: { queues: QueueInfo[] } };
  purgeQueue: { params: { queue: string }; result: { purged: number } };
  /** cancel_consumer / add_consumer: how many workers answered. */
  pauseQueue: { params: { queue: string }; result: { workers: number } };
  resumeQueue: { params: { queue: string }; result: { workers: number } };
  /** `max` 1: the oldest dead letter only; absent: all of them. */
  requeueDeadLetters: { params: { queue: string; max?: number }; result: { requeued: number; kept: string[] } };
  /** Its args/kwargs as JSON in an input box, validated, then enqueued; newTaskId null when the user cancelled. */
  editAndRun: { params: { taskId: string }; result: { newTaskId: string | null } };
  /** Retry each task (the FAILUREs the filter shows) after one confirmation with the count; retried 0 when cancelled. */
  retryMany: { params: { taskIds: string[] }; result: { retried: number; skipped: number; errors: string[] } };
  /** The Schedules view (schedules-panel.ts): `sprig beat --list --json` for each tasks file (null: sprig.config's beat.schedule only). */
  listSchedules: { params: Record<string, never>; result: { entries: ScheduleEntry[]; errors: string[] } };
}
/** A beat entry and the tasks file it was read from. */
export interface ScheduleEntry extends BeatListEntry {
  file: string | null;
}
/** Requests about a queue (their params name it). */
export type QueueRequestMethod = 'purgeQueue' | 'pauseQueue' | 'resumeQueue' | 'requeueDeadLetters';
export const QUEUE_ACTIONS: readonly QueueRequestMethod[] = ['purgeQueue', 'pauseQueue', 'resumeQueue', 'requeueDeadLetters'];
export type RequestMethod = keyof RequestMap;
export interface Request<M extends RequestMethod = RequestMethod> { method: M; id: number; params: RequestMap[M]['params'] }
export interface Reply<M extends RequestMethod = RequestMethod> {
  method: 'reply';
  id: number;
  ok: boolean;
  result?: RequestMap[M]['result'];
  error?: string;
}

// ---- notifications: extension → webview -----------------------------------------------------

/**
 * The tasks of a snapshot column by column (see encodeTasks): 100,000 TaskInfo objects are ~65 MB
 * of JSON, most of it repeated keys and nulls; the columns are a fraction of that to serialize,
 * send through the workbench and clone into the webview.
 */
export interface TaskColumns {
  count: number;
  /** Every field of a task, in order: a field with no column is null for every task. */
  fields: Array<keyof TaskInfo>;
  /** Field → one value per task, or a dictionary and indexes (a repetitive string field). Fields null for every task are left out. */
  columns: Partial<Record<keyof TaskInfo, unknown[] | { dict: unknown[]; idx: number[] }>>;
}
export interface WireSnapshot {
  workers: WorkerInfo[];
  /** Oldest first. */
  tasks: TaskColumns;
  eventCount: number;
}
export interface SnapshotNotification {
  method: 'snapshot';
  params: { state: WireSnapshot; paused: boolean; maxTasks: number; brokerUrl: string; connected: boolean; error?: string };
}
/** Events batched over ~100 ms, in arrival order. */
export interface EventsNotification { method: 'events'; params: { events: SprigEvent[]; links?: Array<[oldId: string, newId: string]> } }
export interface ConnectionNotification { method: 'connection'; params: { brokerUrl: string; connected: boolean; error?: string } }
/** Select a task (after "Show in Monitor"). */
export interface RevealNotification { method: 'reveal'; params: { taskId: string } }
/** Paused or resumed from the command palette: the webview's Pause button follows. */
export interface PausedNotification { method: 'paused'; params: { paused: boolean } }

/** What the page may do: the browser monitor (sprig monitor --http) is read-only unless --allow-actions. */
export interface ModeNotification { method: 'mode'; params: { actions: boolean; browser: boolean } }

export type ExtensionNotification = SnapshotNotification | EventsNotification | ConnectionNotification | RevealNotification | PausedNotification | ModeNotification | Reply;

// ---- guards ----------------------------------------------------------------------------------

function has<M extends string>(m: unknown, method: M): m is MessageType<M> & Record<string, unknown> {
  return !!m && typeof m === 'object' && (m as { method?: unknown }).method === method;
}
const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object';

export const isReady = (m: unknown): m is ReadyCommand => has(m, 'ready');
export const isOpenLocation = (m: unknown): m is OpenLocationCommand =>
  has(m, 'openLocation') && isObj(m.params) && typeof m.params.file === 'string' && typeof m.params.line === 'number' && typeof m.params.column === 'number';
export const isSetPaused = (m: unknown): m is SetPausedCommand => has(m, 'setPaused') && isObj(m.params) && typeof m.params.paused === 'boolean';
export const isClear = (m: unknown): m is ClearCommand => has(m, 'clear');
export const isOpenWorkerPage = (m: unknown): m is OpenWorkerPageCommand => has(m, 'openWorkerPage') && isObj(m.params) && typeof m.params.hostname === 'string';

export function isRequest<M extends RequestMethod>(m: unknown, method: M): m is Request<M> {
  return has(m, method) && typeof m.id === 'number' && isObj(m.params) && typeof m.params.taskId === 'string';
}

export function isQueueRequest<M extends QueueRequestMethod>(m: unknown, method: M): m is Request<M> {
  return (
    has(m, method) &&
    typeof m.id === 'number' &&
    isObj(m.params) &&
    typeof m.params.queue === 'string' &&
    (m.params.max === undefined || (typeof m.params.max === 'number' && Number.isSafeInteger(m.params.max) && m.params.max > 0))
  );
}
export const isListQueues = (m: unknown): m is Request<'listQueues'> => has(m, 'listQueues') && typeof m.id === 'number';
export const isListSchedules = (m: unknown): m is Request<'listSchedules'> => has(m, 'listSchedules') && typeof m.id === 'number';
export const isMode = (m: unknown): m is ModeNotification => has(m, 'mode') && isObj(m.params) && typeof m.params.actions === 'boolean';
/** Bulk retry: a list of task ids (at most RETRY_MANY_MAX, each a string). */
export const RETRY_MANY_MAX = 10_000;
export function isRetryMany(m: unknown): m is Request<'retryMany'> {
  return has(m, 'retryMany') && typeof m.id === 'number' && isObj(m.params) && Array.isArray(m.params.taskIds) && m.params.taskIds.length <= RETRY_MANY_MAX && m.params.taskIds.every((x) => typeof x === 'string');
}

export const isSnapshot = (m: unknown): m is SnapshotNotification =>
  has(m, 'snapshot') && isObj(m.params) && isObj(m.params.state) && Array.isArray(m.params.state.workers) && isObj(m.params.state.tasks) && Array.isArray(m.params.state.tasks.fields) && isObj(m.params.state.tasks.columns);
export const isEvents = (m: unknown): m is EventsNotification => has(m, 'events') && isObj(m.params) && Array.isArray(m.params.events);
export const isConnection = (m: unknown): m is ConnectionNotification => has(m, 'connection') && isObj(m.params) && typeof m.params.connected === 'boolean';
export const isReveal = (m: unknown): m is RevealNotification => has(m, 'reveal') && isObj(m.params) && typeof m.params.taskId === 'string';
export const isPaused = (m: unknown): m is PausedNotification => has(m, 'paused') && isObj(m.params) && typeof m.params.paused === 'boolean';
export const isReply = (m: unknown): m is Reply => has(m, 'reply') && typeof m.id === 'number' && typeof m.ok === 'boolean';

// ---- snapshot encoding -----------------------------------------------------------------------

// The field list travels with the columns, from the tasks themselves (every TaskInfo has every
// field: ClusterState makes them all with newTask). This file is bundled by the extension host,
// which reaches runtime values only through runtime.ts, and by the webview: it imports types only.

/** A string column with at most this many distinct values is sent as a dictionary and indexes. */
const DICT_MAX = 1024;

export function encodeTasks(tasks: readonly TaskInfo[]): TaskColumns {
  const columns: TaskColumns['columns'] = {};
  const n = tasks.length;
  const fields = (n ? Object.keys(tasks[0]!) : []) as Array<keyof TaskInfo>;
  for (const k of fields) {
    const values = new Array<unknown>(n);
    let any = false;
    let strings = true;
    for (let i = 0; i < n; i++) {
      const v = tasks[i]![k];
      values[i] = v;
      if (v !== null && v !== undefined) {
        any = true;
        if (typeof v !== 'string') strings = false;
      }
    }
    if (!any) continue;
    if (strings && n > DICT_MAX) {
      const index = new Map<unknown, number>();
      const idx = new Array<number>(n);
      for (let i = 0; i < n && index.size <= DICT_MAX; i++) {
        const v = values[i] ?? null;
        let j = index.get(v);
        if (j === undefined) index.set(v, (j = index.size));
        idx[i] = j;
      }
      if (index.size <= DICT_MAX) {
        columns[k] = { dict: [...index.keys()], idx };
        continue;
      }
    }
    columns[k] = values;
  }
  return { count: n, fields, columns };
}

export function decodeTasks(c: TaskColumns): TaskInfo[] {
  const n = c.count;
  const blank = Object.fromEntries(c.fields.map((k) => [k, null])) as unknown as TaskInfo;
  const tasks = new Array<TaskInfo>(n);
  for (let i = 0; i < n; i++) tasks[i] = { ...blank };
  for (const k of c.fields) {
    const col = c.columns[k];
    if (!col) continue;
    const rows = tasks as unknown as Array<Record<string, unknown>>;
    if (Array.isArray(col)) {
      for (let i = 0; i < n; i++) rows[i]![k] = col[i] ?? null;
    } else {
      const { dict, idx } = col;
      for (let i = 0; i < n; i++) rows[i]![k] = dict[idx[i]!] ?? null;
    }
  }
  return tasks;
}

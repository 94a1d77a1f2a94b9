/**
 * The cluster as rebuilt from the event stream (like celery.events.state): workers and tasks, a task
 * state machine that tolerates events arriving out of order, bounded to `maxTasks` (oldest dropped).
 * Pure TypeScript with no Node APIs: the webview bundles it, and so do the extension and the CLI.
 * Public as `app.events.state()`; the queries carry Celery's State method names (camelCase):
 * `event`, `tasksByTime`, `tasksByType`, `tasksByWorker`, `taskTypes`, `aliveWorkers`, `itertasks`,
 * `getOrCreateTask`, `getOrCreateWorker`, `taskCount`.
 */
import type { SprigEvent, TaskEvent, TaskProgressEvent, WorkerEvent, WorkerReloadEvent } from './types.js';

export type TaskStateName = 'PENDING' | 'RECEIVED' | 'STARTED' | 'SUCCESS' | 'FAILURE' | 'RETRY' | 'REVOKED' | 'REJECTED';

export const TASK_STATES: readonly TaskStateName[] = ['PENDING', 'RECEIVED', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED', 'REJECTED'];
export const READY_STATES: ReadonlySet<TaskStateName> = new Set(['SUCCESS', 'FAILURE', 'REVOKED', 'REJECTED']);

/**
 * Celery's precedence (celery/states.py): a lower index wins. An event whose state comes
 * logically before the current one (a late `task-started` after `task-succeeded`) only fills in
 * fields; it does not move the state back.
 */
const PRECEDENCE: readonly TaskStateName[] = ['SUCCESS', 'FAILURE', 'REVOKED', 'STARTED', 'RECEIVED', 'REJECTED', 'RETRY', 'PENDING'];
function precedence(s: TaskStateName): number {
  return PRECEDENCE.indexOf(s);
}

/** The state each task event moves its task to. */
export const EVENT_STATE: Readonly<Record<TaskEvent['type'], TaskStateName>> = {
  'task-sent': 'PENDING',
  'task-received': 'RECEIVED',
  'task-started': 'STARTED',
  'task-succeeded': 'SUCCESS',
  'task-failed': 'FAILURE',
  'task-retried': 'RETRY',
  'task-revoked': 'REVOKED',
  'task-rejected': 'REJECTED',
  // Progress does not move the state (a task reporting progress is running): see applyProgress.
  'task-progress': 'STARTED',
};

/** Fields a happens-before event may still fill in (celery's Task.merge_rules, extended). */
const MERGE_FIELDS: Partial<Record<TaskStateName, readonly (keyof TaskInfo)[]>> = {
  PENDING: ['name', 'args', 'kwargs', 'eta', 'expires', 'queue', 'exchange', 'routingKey', 'rootId', 'parentId', 'sent'],
  RECEIVED: ['name', 'args', 'kwargs', 'retries', 'eta', 'expires', 'rootId', 'parentId', 'group', 'chord', 'worker', 'received'],
  STARTED: ['worker', 'started', 'pid'],
  RETRY: ['worker', 'retried'],
  REJECTED: ['worker', 'rejected'],
};

export interface TaskInfo {
  uuid: string;
  name: string | null;
  state: TaskStateName;
  /** Python-style reprs, as the events carry them. */
  args: string | null;
  kwargs: string | null;
  result: string | null;
  exception: string | null;
  traceback: string | null;
  retries: number;
  /** Hostname of the worker that received it. */
  worker: string | null;
  queue: string | null;
  exchange: string | null;
  routingKey: string | null;
  eta: string | null;
  expires: string | null;
  rootId: string | null;
  parentId: string | null;
  /** Sprig's canvas fields from task-received: the group it is a member of; for a chord part, the body's task id. */
  group: string | null;
  chord: string | null;
  /** Seconds the task ran (task-succeeded). */
  runtime: number | null;
  /** Timestamps (seconds since the epoch) of each event seen. */
  sent: number | null;
  received: number | null;
  started: number | null;
  succeeded: number | null;
  failed: number | null;
  retried: number | null;
  revoked: number | null;
  rejected: number | null;
  /** Timestamp of the event that set the current state. */
  timestamp: number;
  /** Lamport clock of the last event applied. */
  clock: number;
  /** The id this task re-enqueues (a monitor "Retry"), and the id it was re-enqueued as. */
  retryOf: string | null;
  retriedAs: string | null;
  /** Pid of the process that runs the current attempt (task-started's worker_pid, a Sprig field), else the event's. */
  pid: number | null;
  /** The attempts before the current one, oldest first (at most ATTEMPTS_KEPT); null when it never retried. */
  attempts: TaskAttempt[] | null;
  /** The last progress it reported (task-progress), null when none. */
  progress: TaskProgress | null;
}

/** One finished attempt of a task that was retried: the current attempt is the TaskInfo's own fields. */
export interface TaskAttempt {
  /** Its retries count (0: the first run). */
  retries: number;
  worker: string | null;
  pid: number | null;
  received: number | null;
  started: number | null;
  /** When it asked to be retried (task-retried), null until that event came. */
  retried: number | null;
  /** The task-retried exception: why it was retried. */
  reason: string | null;
}

/** What `ctx.progress(done, total)` or `ctx.updateState(state, meta)` reported. */
export interface TaskProgress {
  /** The custom state (Celery's update_state(state=...)), 'PROGRESS' for ctx.progress. */
  state: string;
  done: number | null;
  total: number | null;
  /** The meta as a JSON text (cut at 1,024 characters). */
  meta: string | null;
  timestamp: number;
}

/** Attempts kept per task (the latest): a task retried forever stays bounded. */
export const ATTEMPTS_KEPT = 20;

export interface WorkerInfo {
  hostname: string;
  pid: number;
  /** Heartbeat frequency (seconds). */
  freq: number;
  active: number;
  processed: number;
  loadavg: number[];
  swIdent: string;
  swVer: string;
  swSys: string;
  /** Local receipt time (seconds) of the last heartbeat/online event; 0 after worker-offline. */
  lastHeartbeat: number;
  /** The last few heartbeat receipt times, oldest first (Celery's Worker.heartbeats, 4 kept). */
  heartbeats: number[];
  /** True between worker-online/heartbeat and worker-offline. */
  online: boolean;
  /** Its last autoreload failed (worker-reload ok: false): the error; it still runs the old code. Null once a reload works. */
  reloadError: string | null;
}

export interface ClusterSnapshot {
  workers: WorkerInfo[];
  /** Oldest first. */
  tasks: TaskInfo[];
  eventCount: number;
}

export interface ClusterStateOptions {
  /** Tasks kept; the oldest are dropped past it (default 100,000). */
  maxTasks?: number;
  /** Workers kept (default 5,000, Celery's max_workers_in_memory); offline ones go first. */
  maxWorkers?: number;
  /** Clock for `alive` (seconds); tests pass their own. */
  now?: () => number;
}

/** Celery's HEARTBEAT_EXPIRE_WINDOW: a worker is gone after two missed heartbeats. */
const HEARTBEAT_EXPIRE_FACTOR = 2;
/** Celery's Worker.heartbeat_max. */
const HEARTBEATS_KEPT = 4;

export function newTask(uuid: string): TaskInfo {
  return {
    uuid,
    name: null,
    state: 'PENDING',
    args: null,
    kwargs: null,
    result: null,
    exception: null,
    traceback: null,
    retries: 0,
    worker: null,
    queue: null,
    exchange: null,
    routingKey: null,
    eta: null,
    expires: null,
    rootId: null,
    parentId: null,
    group: null,
    chord: null,
    runtime: null,
    sent: null,
    received: null,
    started: null,
    succeeded: null,
    failed: null,
    retried: null,
    revoked: null,
    rejected: null,
    timestamp: 0,
    clock: 0,
    retryOf: null,
    retriedAs: null,
    pid: null,
    attempts: null,
    progress: null,
  };
}

function isTaskEvent(e: SprigEvent): e is TaskEvent {
  return e.type.startsWith('task-');
}

function isWorkerEvent(e: SprigEvent): e is WorkerEvent {
  return e.type === 'worker-online' || e.type === 'worker-heartbeat' || e.type === 'worker-offline';
}

/** What one `apply` changed, so a view redraws only that. */
export interface Change {
  task?: TaskInfo;
  worker?: WorkerInfo;
}

export class ClusterState {
  readonly workers = new Map<string, WorkerInfo>();
  /** Insertion order = first seen; the oldest are evicted first. */
  readonly tasks = new Map<string, TaskInfo>();
  maxTasks: number;
  maxWorkers: number;
  eventCount = 0;
  /** Tasks ever seen, evicted ones included (Celery's task_count). */
  taskCount = 0;
  private readonly now: () => number;

  constructor(opts: ClusterStateOptions = {}) {
    this.maxTasks = Math.max(1, opts.maxTasks ?? 100_000);
    this.maxWorkers = Math.max(1, opts.maxWorkers ?? 5_000);
    this.now = opts.now ?? (() => Date.now() / 1000);
  }

  /** `apply`, bound: hand it to a receiver as a handler (Celery's `handlers={'*': state.event}`). */
  readonly event = (event: SprigEvent): Change => this.apply(event);

  /** Apply one event. Unknown event types are counted and ignored. */
  apply(event: SprigEvent): Change {
    this.eventCount++;
    if (isTaskEvent(event)) return { task: this.applyTask(event) ?? undefined };
    if (isWorkerEvent(event)) return { worker: this.applyWorker(event) };
    if (event.type === 'worker-reload') return { worker: this.applyReload(event) };
    return {};
  }

  applyAll(events: Iterable<SprigEvent>): void {
    for (const e of events) this.apply(e);
  }

  private worker(hostname: string): WorkerInfo {
    let w = this.workers.get(hostname);
    if (!w) {
      w = { hostname, pid: 0, freq: 2, active: 0, processed: 0, loadavg: [], swIdent: '', swVer: '', swSys: '', lastHeartbeat: 0, heartbeats: [], online: false, reloadError: null };
      this.workers.set(hostname, w);
      this.evictWorkers();
    }
    return w;
  }

  /** The worker with this hostname, made (unseen) if there is none. */
  getOrCreateWorker(hostname: string): WorkerInfo {
    return this.worker(hostname);
  }

  /** The task with this id, made (PENDING) if there is none. */
  getOrCreateTask(uuid: string): TaskInfo {
    let t = this.tasks.get(uuid);
    if (!t) {
      t = newTask(uuid);
      this.addTask(t);
    }
    return t;
  }

  private addTask(t: TaskInfo): void {
    this.tasks.set(t.uuid, t);
    this.taskCount++;
    this.evict();
  }

  private evictWorkers(): void {
    let excess = this.workers.size - this.maxWorkers;
    if (excess <= 0) return;
    for (const [h, w] of this.workers) {
      if (excess <= 0) return;
      if (!w.online) {
        this.workers.delete(h);
        excess--;
      }
    }
    for (const h of this.workers.keys()) {
      if (excess-- <= 0) return;
      this.workers.delete(h);
    }
  }

  private applyWorker(e: WorkerEvent): WorkerInfo {
    const w = this.worker(e.hostname);
    w.pid = e.pid;
    w.freq = e.freq || w.freq;
    w.active = e.active;
    w.processed = e.processed;
    w.loadavg = e.loadavg ?? [];
    w.swIdent = e.sw_ident ?? '';
    w.swVer = e.sw_ver ?? '';
    w.swSys = e.sw_sys ?? '';
    if (e.type === 'worker-offline') {
      w.online = false;
      w.lastHeartbeat = 0;
    } else {
      w.online = true;
      w.lastHeartbeat = e.local_received ?? this.now();
      w.heartbeats.push(w.lastHeartbeat);
      if (w.heartbeats.length > HEARTBEATS_KEPT) w.heartbeats.shift();
    }
    return w;
  }

  private applyReload(e: WorkerReloadEvent): WorkerInfo {
    const w = this.worker(e.hostname);
    w.reloadError = e.ok ? null : (e.error ?? 'the tasks file did not load');
    return w;
  }

  /** True while heartbeats keep coming (celery's Worker.alive). */
  isAlive(w: WorkerInfo, now = this.now()): boolean {
    return w.online && now - w.lastHeartbeat < w.freq * HEARTBEAT_EXPIRE_FACTOR + 1;
  }

  private applyTask(e: TaskEvent): TaskInfo | null {
    if (typeof e.uuid !== 'string' || !e.uuid) return null;
    let t = this.tasks.get(e.uuid);
    if (!t) {
      t = newTask(e.uuid);
      this.addTask(t);
    }
    if (e.type === 'task-progress') return applyProgress(t, e);
    const state = EVENT_STATE[e.type];
    recordAttempt(t, e);
    const fields = this.taskFields(e);
    // A rejection without requeue ends the task (a task that raised Reject after it started);
    // Celery's precedence would keep it STARTED forever.
    const finalReject = e.type === 'task-rejected' && !e.requeue;
    // The retry's delivery can be received (an ETA) before the attempt before it reports task-retried:
    // more retries than we know of is a later attempt, not a late event.
    const laterAttempt = e.type === 'task-received' && (e.retries ?? 0) > t.retries;
    if (!finalReject && !laterAttempt && t.clock !== 0 && state !== 'RETRY' && t.state !== 'RETRY' && precedence(state) > precedence(t.state)) {
      // Happened before what we already know: fill in, do not go back.
      for (const k of MERGE_FIELDS[state] ?? []) {
        const v = fields[k];
        if (v !== undefined && v !== null && (t[k] === null || t[k] === undefined)) {
          (t as unknown as Record<string, unknown>)[k] = v;
        }
      }
    } else {
      Object.assign(t, fields);
      t.state = state;
      t.timestamp = e.timestamp;
      // A re-delivery after a retry starts a fresh attempt.
      if (state === 'RECEIVED' || state === 'STARTED') {
        t.result = null;
        t.runtime = null;
      }
    }
    t.clock = Math.max(t.clock, e.clock || 1);
    return t;
  }

  private taskFields(e: TaskEvent): Partial<TaskInfo> {
    switch (e.type) {
      case 'task-sent':
        return {
          name: e.name,
          args: e.args,
          kwargs: e.kwargs,
          retries: e.retries ?? 0,
          eta: e.eta,
          expires: e.expires,
          queue: e.queue,
          exchange: e.exchange,
          routingKey: e.routing_key,
          rootId: e.root_id,
          parentId: e.parent_id,
          sent: e.timestamp,
        };
      case 'task-received':
        this.worker(e.hostname);
        return {
          name: e.name,
          args: e.args,
          kwargs: e.kwargs,
          retries: e.retries ?? 0,
          eta: e.eta,
          expires: e.expires,
          rootId: e.root_id,
          parentId: e.parent_id,
          group: e.group ?? null,
          chord: e.chord ?? null,
          worker: e.hostname,
          received: e.timestamp,
        };
      case 'task-started':
        this.worker(e.hostname);
        return { worker: e.hostname, started: e.timestamp, pid: typeof e.worker_pid === 'number' ? e.worker_pid : e.pid ?? null };
      case 'task-succeeded':
        return { worker: e.hostname, result: e.result, runtime: e.runtime, succeeded: e.timestamp, exception: null, traceback: null };
      case 'task-failed':
        return { worker: e.hostname, exception: e.exception, traceback: e.traceback, failed: e.timestamp };
      case 'task-retried':
        return { worker: e.hostname, exception: e.exception, traceback: e.traceback, retried: e.timestamp };
      case 'task-revoked':
        // Sent by the worker that held it (expired, or revoked before it ran).
        return { revoked: e.timestamp, worker: e.hostname };
      case 'task-rejected':
        return { worker: e.hostname, rejected: e.timestamp, exception: e.reason ?? null, ...(e.name ? { name: e.name } : {}) };
      case 'task-progress':
        return {};
    }
  }

  /** Record that `newId` re-enqueues `oldId` (the monitor's Retry). */
  link(oldId: string, newId: string): void {
    const old = this.tasks.get(oldId);
    if (old) old.retriedAs = newId;
    let t = this.tasks.get(newId);
    if (!t) {
      t = newTask(newId);
      t.name = old?.name ?? null;
      t.args = old?.args ?? null;
      t.kwargs = old?.kwargs ?? null;
      t.queue = old?.queue ?? null;
      this.addTask(t);
    }
    t.retryOf = oldId;
  }

  private evict(): void {
    if (this.tasks.size <= this.maxTasks) return;
    const it = this.tasks.keys();
    let excess = this.tasks.size - this.maxTasks;
    while (excess-- > 0) {
      const k = it.next();
      if (k.done) break;
      this.tasks.delete(k.value);
    }
  }

  /** Forget tasks (and workers that are offline); online workers stay. */
  clear(): void {
    this.tasks.clear();
    for (const [h, w] of this.workers) if (!w.online) this.workers.delete(h);
  }

  setMaxTasks(n: number): void {
    this.maxTasks = Math.max(1, n);
    this.evict();
  }

  /** Workers whose heartbeats keep coming (Celery's alive_workers). */
  aliveWorkers(now = this.now()): WorkerInfo[] {
    return [...this.workers.values()].filter((w) => this.isAlive(w, now));
  }

  /** Tasks, oldest first (Celery's itertasks). */
  *itertasks(limit?: number): IterableIterator<TaskInfo> {
    let n = 0;
    for (const t of this.tasks.values()) {
      if (limit !== undefined && n++ >= limit) return;
      yield t;
    }
  }

  /** Tasks by the time of their latest event, newest first unless `reverse` is false (Celery's tasks_by_time). */
  tasksByTime(limit?: number, reverse = true): TaskInfo[] {
    return sortByTime([...this.tasks.values()], limit, reverse);
  }

  /** Tasks of one type, newest first (Celery's tasks_by_type). */
  tasksByType(name: string, limit?: number, reverse = true): TaskInfo[] {
    return sortByTime([...this.tasks.values()].filter((t) => t.name === name), limit, reverse);
  }

  /** Tasks a worker received, newest first (Celery's tasks_by_worker). */
  tasksByWorker(hostname: string, limit?: number, reverse = true): TaskInfo[] {
    return sortByTime([...this.tasks.values()].filter((t) => t.worker === hostname), limit, reverse);
  }

  /** Names of the task types seen, sorted (Celery's task_types). */
  taskTypes(): string[] {
    const names = new Set<string>();
    for (const t of this.tasks.values()) if (t.name) names.add(t.name);
    return [...names].sort();
  }

  /** Counts per state (for a summary line). */
  countByState(): Record<TaskStateName, number> {
    const c = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskStateName, number>;
    for (const t of this.tasks.values()) c[t.state]++;
    return c;
  }

  snapshot(): ClusterSnapshot {
    return {
      workers: [...this.workers.values()].map((w) => ({ ...w, loadavg: [...w.loadavg], heartbeats: [...w.heartbeats] })),
      tasks: [...this.tasks.values()].map((t) => ({ ...t, attempts: t.attempts && t.attempts.map((a) => ({ ...a })) })),
      eventCount: this.eventCount,
    };
  }

  /** Replace the state with a snapshot (a webview that was reloaded). */
  load(s: ClusterSnapshot): void {
    this.workers.clear();
    this.tasks.clear();
    // A snapshot from an older runtime has no `heartbeats` (nor `reloadError`).
    for (const w of s.workers) this.workers.set(w.hostname, { ...w, heartbeats: [...(w.heartbeats ?? [])], reloadError: w.reloadError ?? null });
    // A snapshot from an older runtime has no pid, attempts or progress.
    for (const t of s.tasks) this.tasks.set(t.uuid, { ...t, pid: t.pid ?? null, attempts: t.attempts ? t.attempts.map((a) => ({ ...a })) : null, progress: t.progress ?? null });
    this.eventCount = s.eventCount;
    this.evict();
  }
}

/**
 * Keeps the attempt that is ending as a TaskAttempt before the next one overwrites the task's
 * fields: on task-retried (normal order), or on a later attempt's task-received that came first
 * (its retry was received before the task-retried of the attempt before it).
 */
function recordAttempt(t: TaskInfo, e: TaskEvent): void {
  if (e.type === 'task-retried') {
    const open = t.attempts?.find((a) => a.retried === null && a.retries < t.retries);
    if (open) {
      open.retried = e.timestamp;
      open.reason = e.exception ?? null;
      return;
    }
    if (t.attempts?.some((a) => a.retries === t.retries)) return; // the same event twice
    pushAttempt(t, { retries: t.retries, worker: e.hostname ?? t.worker, pid: t.pid, received: t.received, started: t.started, retried: e.timestamp, reason: e.exception ?? null });
    // The next attempt's times are its own (a late task-started must not look like the next one's).
    t.received = null;
    t.started = null;
    t.pid = null;
  } else if (e.type === 'task-received' && (e.retries ?? 0) > t.retries && (t.received !== null || t.started !== null)) {
    if (t.attempts?.some((a) => a.retries === t.retries)) return;
    pushAttempt(t, { retries: t.retries, worker: t.worker, pid: t.pid, received: t.received, started: t.started, retried: t.state === 'RETRY' ? t.retried : null, reason: t.state === 'RETRY' ? t.exception : null });
    t.started = null;
    t.pid = null;
  }
}

function pushAttempt(t: TaskInfo, a: TaskAttempt): void {
  const list = (t.attempts ??= []);
  list.push(a);
  if (list.length > ATTEMPTS_KEPT) list.splice(0, list.length - ATTEMPTS_KEPT);
}

const META_MAX = 1024;

/** task-progress: the progress fields only; the state stays (a late one after the end changes nothing shown). */
function applyProgress(t: TaskInfo, e: TaskProgressEvent): TaskInfo {
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  if (t.progress && t.progress.timestamp > e.timestamp) return t;
  let meta: string | null = null;
  if (e.meta !== undefined && e.meta !== null) {
    try {
      meta = JSON.stringify(e.meta) ?? null;
    } catch {
      meta = null;
    }
    if (meta && meta.length > META_MAX) meta = `${meta.slice(0, META_MAX - 3)}...`;
  }
  t.progress = { state: typeof e.custom_state === 'string' && e.custom_state ? e.custom_state.slice(0, 64) : 'PROGRESS', done: num(e.done), total: num(e.total), meta, timestamp: e.timestamp };
  if (!t.worker && e.hostname) t.worker = e.hostname;
  return t;
}

function sortByTime(tasks: TaskInfo[], limit: number | undefined, reverse: boolean): TaskInfo[] {
  tasks.sort(reverse ? (a, b) => b.timestamp - a.timestamp : (a, b) => a.timestamp - b.timestamp);
  return limit === undefined ? tasks : tasks.slice(0, limit);
}

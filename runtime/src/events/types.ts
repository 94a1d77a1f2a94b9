/**
 * The one typed map of monitoring events (Celery's names and fields). Every reader — the worker,
 * the CLI, the extension and the webview — imports these types.
 */
export interface EventBase {
  type: string;
  hostname: string;
  pid: number;
  clock: number;
  /** Seconds since the epoch (float), like Celery. */
  timestamp: number;
  utcoffset: number;
  /** Set by receivers: when it arrived. */
  local_received?: number;
}

export interface TaskSentEvent extends EventBase {
  type: 'task-sent';
  uuid: string;
  name: string;
  args: string;
  kwargs: string;
  retries: number;
  eta: string | null;
  expires: string | null;
  queue: string;
  exchange: string;
  routing_key: string;
  root_id: string | null;
  parent_id: string | null;
}

export interface TaskReceivedEvent extends EventBase {
  type: 'task-received';
  uuid: string;
  name: string;
  args: string;
  kwargs: string;
  retries: number;
  eta: string | null;
  expires: string | null;
  root_id: string | null;
  parent_id: string | null;
  /** Sprig's canvas fields (Celery 5.2 sends neither): the group it is part of, and when it is a chord part the body's task id. */
  group?: string | null;
  chord?: string | null;
}

export interface TaskStartedEvent extends EventBase {
  type: 'task-started';
  uuid: string;
  /** Sprig addition: the pid of the pool process that runs it (the event's pid is the worker's main process). */
  worker_pid?: number;
}

export interface TaskSucceededEvent extends EventBase {
  type: 'task-succeeded';
  uuid: string;
  result: string;
  runtime: number;
}

export interface TaskFailedEvent extends EventBase {
  type: 'task-failed';
  uuid: string;
  exception: string;
  traceback: string;
}

export interface TaskRetriedEvent extends EventBase {
  type: 'task-retried';
  uuid: string;
  exception: string;
  traceback: string;
}

export interface TaskRevokedEvent extends EventBase {
  type: 'task-revoked';
  uuid: string;
  terminated: boolean;
  signum: number | null;
  expired: boolean;
}

export interface TaskRejectedEvent extends EventBase {
  type: 'task-rejected';
  uuid: string | null;
  requeue: boolean;
  /** Sprig addition: why it was rejected. */
  reason?: string;
  name?: string;
}

/**
 * Sprig addition: a running task reported progress (`ctx.progress(done, total)`) or a custom state
 * (`ctx.updateState(state, meta)`, Celery's update_state). Celery sends no event for update_state;
 * its events.State turns an unknown `task-<x>` into the custom state `<X>` (so Flower shows PROGRESS)
 * and keeps the fields on the task.
 */
export interface TaskProgressEvent extends EventBase {
  type: 'task-progress';
  uuid: string;
  /** The state stored in the result backend ('PROGRESS' for ctx.progress). */
  custom_state: string;
  meta: unknown;
  done?: number | null;
  total?: number | null;
}

export interface WorkerStatusFields {
  freq: number;
  active: number;
  processed: number;
  loadavg: number[];
  sw_ident: string;
  sw_ver: string;
  sw_sys: string;
}

export interface WorkerOnlineEvent extends EventBase, WorkerStatusFields {
  type: 'worker-online';
}
export interface WorkerHeartbeatEvent extends EventBase, WorkerStatusFields {
  type: 'worker-heartbeat';
}
export interface WorkerOfflineEvent extends EventBase, WorkerStatusFields {
  type: 'worker-offline';
}

/** Sprig addition: the worker reloaded its tasks file (autoreload). */
export interface WorkerReloadEvent extends EventBase {
  type: 'worker-reload';
  ok: boolean;
  error?: string;
  file?: string;
}

export interface SprigEventMap {
  'task-sent': TaskSentEvent;
  'task-received': TaskReceivedEvent;
  'task-started': TaskStartedEvent;
  'task-succeeded': TaskSucceededEvent;
  'task-failed': TaskFailedEvent;
  'task-retried': TaskRetriedEvent;
  'task-revoked': TaskRevokedEvent;
  'task-rejected': TaskRejectedEvent;
  'task-progress': TaskProgressEvent;
  'worker-online': WorkerOnlineEvent;
  'worker-heartbeat': WorkerHeartbeatEvent;
  'worker-offline': WorkerOfflineEvent;
  'worker-reload': WorkerReloadEvent;
}

export type SprigEventType = keyof SprigEventMap;
export type SprigEvent = SprigEventMap[SprigEventType];
export type TaskEvent = Extract<SprigEvent, { uuid: unknown }>;
export type WorkerEvent = WorkerOnlineEvent | WorkerHeartbeatEvent | WorkerOfflineEvent;

export const EVENT_TYPES: readonly SprigEventType[] = [
  'task-sent',
  'task-received',
  'task-started',
  'task-succeeded',
  'task-failed',
  'task-retried',
  'task-revoked',
  'task-rejected',
  'task-progress',
  'worker-online',
  'worker-heartbeat',
  'worker-offline',
  'worker-reload',
];

export function isSprigEvent(v: unknown): v is SprigEvent {
  return (
    !!v &&
    typeof v === 'object' &&
    typeof (v as { type?: unknown }).type === 'string' &&
    typeof (v as { hostname?: unknown }).hostname === 'string'
  );
}

/** AMQP/Redis routing key for an event type: 'task-succeeded' -> 'task.succeeded'. */
export function eventRoutingKey(type: string): string {
  return type.replace(/-/g, '.');
}

export type EventPayload<T extends SprigEventType> = Omit<SprigEventMap[T], keyof EventBase> & { type: T };

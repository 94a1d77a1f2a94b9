import type { ExceptionInfo } from '../errors.js';

export type TaskState = 'PENDING' | 'RECEIVED' | 'STARTED' | 'SUCCESS' | 'FAILURE' | 'RETRY' | 'REVOKED' | 'REJECTED';

export const READY_STATES: ReadonlySet<TaskState> = new Set<TaskState>(['SUCCESS', 'FAILURE', 'REVOKED']);

/** Celery's stored result (`celery-task-meta-<id>`). */
export interface ResultMeta {
  status: TaskState;
  result: unknown;
  traceback: string | null;
  children: unknown[];
  date_done: string | null;
  task_id: string;
  /** Written only when set, as Celery does. */
  group_id?: string;
  parent_id?: string | null;
  /** Extended fields (Celery's result_extended), written by Sprig workers. */
  name?: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  worker?: string;
  retries?: number;
  queue?: string;
  /** Where an rpc:// backend sends this state (the task message's reply_to); never stored. */
  replyTo?: string;
}

export function isExceptionInfo(v: unknown): v is ExceptionInfo {
  return !!v && typeof v === 'object' && typeof (v as ExceptionInfo).exc_type === 'string';
}

/** Where task results live. One interface; Redis, embedded, memory (and rpc for AMQP) implement it. */
export interface ResultBackend {
  readonly kind: string;
  /** Store a state. `expiresSec` overrides the backend's default expiry. */
  store(meta: ResultMeta, expiresSec?: number): Promise<void>;
  get(taskId: string): Promise<ResultMeta | null>;
  /** Resolve with the meta once the task is ready (SUCCESS/FAILURE/REVOKED); reject on timeout. */
  waitFor(taskId: string, timeoutMs: number | undefined): Promise<ResultMeta>;
  forget(taskId: string): Promise<void>;
  close(): Promise<void>;
}

/** Default result expiry: one day, like Celery's `result_expires`. */
export const DEFAULT_RESULT_EXPIRES = 86400;

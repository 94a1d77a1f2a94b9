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

/** Longest exc_type / exc_module taken from a stored failure (Python's qualified names are far shorter). */
const MAX_EXC_NAME = 256;

/**
 * A stored failure as read back (hostile: any writer of the backend made it): exc_type a short
 * string, exc_module a string (else Celery's default), exc_message always an array (Celery writes
 * the exception's args; an older writer's single string, or anything else, becomes one arg).
 * Undefined when it is no exception at all.
 */
export function parseExceptionInfo(v: unknown): ExceptionInfo | undefined {
  if (!isExceptionInfo(v)) return undefined;
  const o = v as unknown as Record<string, unknown>;
  const type = String(o.exc_type).slice(0, MAX_EXC_NAME) || 'Exception';
  const module = typeof o.exc_module === 'string' && o.exc_module ? o.exc_module.slice(0, MAX_EXC_NAME) : 'celery.exceptions';
  const msg = o.exc_message;
  const args = Array.isArray(msg) ? msg : msg === undefined || msg === null ? [] : [msg];
  return { exc_type: type, exc_module: module, exc_message: args };
}

/** Where task results live. One interface; Redis, embedded, memory (and rpc for AMQP) implement it. */
export interface ResultBackend {
  readonly kind: string;
  /** Store a state. `expiresSec` overrides the backend's default expiry. */
  store(meta: ResultMeta, expiresSec?: number): Promise<void>;
  get(taskId: string): Promise<ResultMeta | null>;
  /**
   * Resolve with the meta once the task is ready (SUCCESS/FAILURE/REVOKED); reject on timeout,
   * or with `signal`'s reason once it aborts (the wait is then given up, nothing of it stays).
   */
  waitFor(taskId: string, timeoutMs: number | undefined, signal?: AbortSignal): Promise<ResultMeta>;
  /**
   * waitFor honours its signal: AsyncResult.get() starts waiting (a Redis SUBSCRIBE) while the
   * message is still being sent, not one round trip after, and aborts the wait if the send fails.
   */
  readonly waitsWhileSending?: boolean;
  forget(taskId: string): Promise<void>;
  close(): Promise<void>;
  /** Chord joins (absent: this backend cannot join a chord's parts, and chords are refused). */
  readonly chords?: ChordJoin;
  /** GroupResult.save / restore in the backend's native format (absent: kept as a result named `taskset-<id>`). */
  saveGroup?(groupId: string, tuple: unknown): Promise<void>;
  restoreGroup?(groupId: string): Promise<unknown>;
}

/** Default result expiry: one day, like Celery's `result_expires`. */
export const DEFAULT_RESULT_EXPIRES = 86400;

/** One chord part as it returns: its place in the header and how it ended. */
export interface ChordPart {
  groupId: string;
  taskId: string;
  /** Its position in the header (Celery's group_index); null sorts last. */
  groupIndex: number | null;
  state: TaskState;
  /** The result, or the exception info of a failure. */
  result: unknown;
}

/** A counted part, as the join gives them back (in header order). */
export interface ChordEntry {
  taskId: string;
  state: TaskState;
  result: unknown;
}

/**
 * A chord join: parts counted atomically, each part task id once (a part redelivered after a
 * worker died counts once). Backends that can join implement it (Redis with Celery's keys, the
 * embedded broker's Hub, memory://, PostgreSQL); rpc:// cannot, and chords are refused on it.
 */
export interface ChordJoin {
  /** The number of parts the chord waits for (Celery's set_chord_size). */
  setSize(groupId: string, size: number): Promise<void>;
  /**
   * Count a part. Resolves with every part, in header order, for the one call that completed the
   * chord (that part calls the body), else null.
   */
  partReturn(part: ChordPart): Promise<ChordEntry[] | null>;
  /** The body was sent (or failed): forget the join. */
  done(groupId: string): Promise<void>;
  /** The chord waits for `n` more parts (Celery's add_to_chord); absent: this backend cannot. */
  add?(groupId: string, n: number): Promise<void>;
}

import type { AsyncResult } from './result.js';
import type { Signature } from './canvas.js';
import type { ApplyOptions } from './app.js';
import type { SignatureDict } from '../protocol/signature.js';
import { Retry } from '../errors.js';

/** Celery's `request.delivery_info`: where the message came from, as the broker delivered it. */
export interface DeliveryInfo {
  /** The exchange it was published to ('' for the default exchange, and on Redis). */
  readonly exchange: string;
  /** Its routing key (on Redis: the queue). */
  readonly routingKey: string;
  /** Its priority (0-255), or null when the message had none. */
  readonly priority: number | null;
  /** The broker delivered it before (acks late, the worker died or the connection dropped). */
  readonly redelivered: boolean;
}

/** A signature as the task API takes it: a Sprig signature, or Celery's dict of one. */
export type SignatureInput = { toDict(): SignatureDict } | SignatureDict;

/** What a task may ask the worker for while it runs (Celery's `self.request` + `self.retry`). */
export interface TaskContext {
  readonly id: string;
  readonly name: string;
  readonly retries: number;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly hostname: string;
  readonly eta: Date | null;
  readonly rootId: string | null;
  readonly parentId: string | null;
  /** The queue it was delivered from (Celery's `request.delivery_info['routing_key']`); '' when called directly. */
  readonly queue: string;
  /** When it expires (Celery's `request.expires`), or null. */
  readonly expires: Date | null;
  /** The group this task is part of (Celery's `request.group`), or null. */
  readonly groupId: string | null;
  /**
   * The message's own headers: the ones the caller added (`apply_async(headers={'x-trace': ...})`
   * in Python, `applyAsync(args, kwargs, { headers })` here), without Celery's protocol fields,
   * which are the fields above. Kept on retries.
   */
  readonly headers: Readonly<Record<string, unknown>>;
  /** Celery's `request.delivery_info`: exchange, routing key, priority and whether it was redelivered. */
  readonly deliveryInfo: DeliveryInfo;
  /** The message's reply_to (Celery's `request.reply_to`: the rpc:// result queue), or null. */
  readonly replyTo: string | null;
  /** The message's correlation_id (Celery's `request.correlation_id`; Celery sets it to the task id), or null. */
  readonly correlationId: string | null;
  /** Its place in its group (Celery's `request.group_index`), or null. */
  readonly groupIndex: number | null;
  /** The chord body when this task is a chord part (Celery's `request.chord`), or null. Read-only. */
  readonly chord: Readonly<SignatureDict> | null;
  /** What runs after it succeeds (Celery's `request.callbacks`), or null. Read-only. */
  readonly callbacks: readonly Readonly<SignatureDict>[] | null;
  /** What runs after it fails (Celery's `request.errbacks`), or null. Read-only. */
  readonly errbacks: readonly Readonly<SignatureDict>[] | null;
  /** Fires when the task must stop: soft time limit, revoke/terminate, worker shutdown. */
  readonly signal: AbortSignal;
  /** Ask to be run again later. Throws a Retry (control flow): `throw ctx.retry(...)` reads well. */
  retry(opts?: { countdown?: number; eta?: Date; exc?: unknown; maxRetries?: number }): never;
  /**
   * Celery's `self.replace(sig)`: this task ends here and `sig` (a task, chain, group or chord)
   * takes its place with its id, its chain, callbacks, errbacks and chord membership. Throws
   * (control flow): `return ctx.replace(...)` reads well. See docs/task-api.md.
   */
  replace(sig: SignatureInput): never;
  /**
   * Celery's `self.add_to_chord(sig)`: add one more part to the chord this task is a part of (the
   * body waits for it). Returns the new part's id. The part is sent when this task returns, before
   * this task's own part is counted (docs/task-api.md).
   */
  addToChord(sig: SignatureInput): { id: string };
  /**
   * Report progress: stored in the result backend as the custom state PROGRESS with meta
   * `{ done, total, ...meta }` (what Celery users write with update_state) and sent as a
   * `task-progress` event. Cheap to call in a loop: the worker sends at most a few a second, the latest last.
   */
  progress(done: number, total: number, meta?: Record<string, unknown>): void;
  /** Celery's `update_state(state=..., meta=...)`: a custom state (not a ready one) with its meta, stored and sent like progress. */
  updateState(state: string, meta?: unknown): void;
}

/** What a task reported through ctx.progress / ctx.updateState, on its way to the worker's main process. */
export interface ProgressReport {
  state: string;
  meta: unknown;
  done?: number;
  total?: number;
}

const NOT_CUSTOM = new Set(['SUCCESS', 'FAILURE', 'REVOKED', 'PENDING', 'RECEIVED', 'REJECTED', 'RETRY', 'IGNORED']);

/** ctx.progress's arguments checked (a bad value is the task's bug: it throws where it was called). */
export function progressReport(done: unknown, total: unknown, meta?: unknown): ProgressReport {
  if (typeof done !== 'number' || !Number.isFinite(done) || done < 0) throw new TypeError(`ctx.progress(done, total): done must be a finite number >= 0, got ${String(done)}`);
  if (typeof total !== 'number' || !Number.isFinite(total) || total < 0) throw new TypeError(`ctx.progress(done, total): total must be a finite number >= 0, got ${String(total)}`);
  if (meta !== undefined && (meta === null || typeof meta !== 'object' || Array.isArray(meta))) throw new TypeError('ctx.progress(done, total, meta): meta must be an object');
  return { state: 'PROGRESS', meta: { ...(meta as object | undefined), done, total }, done, total };
}

/** ctx.updateState's arguments checked: the ready and built-in states belong to the worker. */
export function stateReport(state: unknown, meta?: unknown): ProgressReport {
  if (typeof state !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]{0,49}$/.test(state)) throw new TypeError(`ctx.updateState(state, meta): state must be a name like "PROGRESS" (letters, digits, _ or -, at most 50: Celery's database backend keeps 50), got ${JSON.stringify(state)}`);
  if (NOT_CUSTOM.has(state.toUpperCase())) throw new TypeError(`ctx.updateState: "${state}" is a state the worker sets itself; use a custom one such as "PROGRESS"`);
  const m = meta === undefined ? null : meta;
  const r: ProgressReport = { state, meta: m };
  if (m && typeof m === 'object' && !Array.isArray(m)) {
    const { done, total } = m as { done?: unknown; total?: unknown };
    if (typeof done === 'number' && Number.isFinite(done)) r.done = done;
    if (typeof total === 'number' && Number.isFinite(total)) r.total = total;
  }
  return r;
}

export type ErrorMatcher = string | (abstract new (...args: never[]) => Error);

export interface TaskOptions {
  /** How many times `retry()`/`autoretryFor` may re-run it (Celery default 3; null = forever). */
  maxRetries?: number | null;
  /** Seconds before a retry when none is given (Celery default 180). */
  defaultRetryDelay?: number;
  /** Errors (classes or names) that trigger an automatic retry. */
  autoretryFor?: readonly ErrorMatcher[];
  /** Exponential backoff for automatic retries: true = 1 s base, or a base in seconds. */
  retryBackoff?: boolean | number;
  /** Cap for the backoff, seconds (Celery default 600). */
  retryBackoffMax?: number;
  /** Randomize backoff delays (full jitter, Celery default true). */
  retryJitter?: boolean;
  /** Acknowledge after the task ran instead of before (at-least-once for the task body). */
  acksLate?: boolean;
  /** With acksLate: requeue when the pool child running it dies (Celery's task_reject_on_worker_lost). */
  rejectOnWorkerLost?: boolean;
  ignoreResult?: boolean;
  /** Seconds results are kept. */
  resultExpires?: number;
  queue?: string;
  priority?: number;
  /** Hard and soft time limits, seconds. */
  timeLimit?: number;
  softTimeLimit?: number;
  /** '10/s', '100/m', '1000/h'. */
  rateLimit?: string;
  /** Default expiry (seconds) for calls. */
  expires?: number;
  serializer?: string;
  compression?: string;
  /** Store a STARTED state when it begins (Celery's track_started). */
  trackStarted?: boolean;
  /** Pass the TaskContext as the first argument (Celery's bind=True). */
  bind?: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFn = (...args: any[]) => unknown;

/** A task function with `bind: true`: the TaskContext comes first (Celery's `self`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type BoundTaskFn = (ctx: TaskContext, ...args: any[]) => unknown;
/** The call arguments of a bound task function: its parameters after the context. */
export type BoundArgs<F extends BoundTaskFn> = Parameters<F> extends [unknown, ...infer A] ? A : never;
export type BoundTaskOptions = TaskOptions & { bind: true };
export type UnboundTaskOptions = TaskOptions & { bind?: false };

/** A task definition: the function plus how to call it remotely. */
export interface Task<A extends unknown[] = unknown[], R = unknown> {
  readonly name: string;
  readonly options: Readonly<TaskOptions>;
  readonly fn: AnyFn;
  /** Enqueue with positional args: `add.delay(2, 3)`. */
  delay(...args: A): AsyncResult<Awaited<R>>;
  /** Enqueue with args, kwargs and options (countdown, eta, expires, priority, queue, taskId, ...). */
  applyAsync(args?: A, kwargs?: Record<string, unknown>, options?: ApplyOptions): AsyncResult<Awaited<R>>;
  /** Run it here and now, in this process (no broker). */
  call(...args: A): Promise<Awaited<R>>;
  /**
   * A signature (Celery's `add.s(...)`): with all its arguments it starts a chain; without the
   * first one it is a later step, which gets the previous step's result as that first argument.
   */
  s: SignatureFactory<A, Awaited<R>>;
  /** An immutable signature (Celery's `add.si(...)`): it ignores the previous step's result. */
  si(...args: A): Signature<any, Awaited<R>>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** What a signature with all its arguments takes first: nothing, unless the task takes any number (`...args`). */
type CompleteIn<A extends unknown[]> = number extends A['length'] ? (A extends Array<infer E> ? E : unknown) : void;

/** `task.s(...)`: all the arguments (a first step), or all but the first (a later step, fed the previous result). */
export interface SignatureFactory<A extends unknown[], R> {
  (...args: A): Signature<CompleteIn<A>, R>;
  (...args: A extends [unknown, ...infer Rest] ? Rest : A): Signature<A extends [infer First, ...unknown[]] ? First : unknown, R>;
}

export function makeRetry(
  ctx: { retries: number },
  options: TaskOptions,
  opts: { countdown?: number; eta?: Date; exc?: unknown; maxRetries?: number } = {},
): never {
  const max = opts.maxRetries !== undefined ? opts.maxRetries : options.maxRetries === undefined ? 3 : options.maxRetries;
  if (max !== null && ctx.retries >= max) {
    // Celery re-raises the given exc (or MaxRetriesExceededError) when retries are exhausted.
    if (opts.exc instanceof Error) throw opts.exc;
    throw new MaxRetriesSignal(max, opts.exc);
  }
  throw new Retry({ countdown: opts.countdown ?? (opts.eta ? undefined : options.defaultRetryDelay ?? 180), eta: opts.eta, exc: opts.exc });
}

/** Internal: ctx.replace() was called; the worker sends `sig` in the task's place. */
export class ReplaceSignal extends Error {
  constructor(readonly sig: SignatureDict) {
    super(`Replaced by new task ${sig.task}`);
    this.name = 'Ignore';
  }
}

/** Internal: retry() was called with retries exhausted and no exception to re-raise. */
export class MaxRetriesSignal extends Error {
  constructor(
    readonly max: number,
    readonly exc: unknown,
  ) {
    super(`max retries (${max}) exceeded`);
    this.name = 'MaxRetriesExceededError';
  }
}

export function matchesError(err: unknown, matchers: readonly ErrorMatcher[] | undefined): boolean {
  if (!matchers || !matchers.length) return false;
  for (const m of matchers) {
    if (typeof m === 'string') {
      if (m === '*') return true;
      let proto = err && typeof err === 'object' ? Object.getPrototypeOf(err) : null;
      if ((err as Error)?.name === m) return true;
      while (proto) {
        if (proto.constructor?.name === m) return true;
        proto = Object.getPrototypeOf(proto);
      }
    } else if (err instanceof (m as unknown as new () => Error)) return true;
  }
  return false;
}

/**
 * Seconds to wait before automatic retry number `retries` (0-based): Celery's
 * get_exponential_backoff_interval with full jitter.
 */
export function backoffSeconds(options: TaskOptions, retries: number, random = Math.random): number {
  const base = options.retryBackoff === true ? 1 : typeof options.retryBackoff === 'number' ? options.retryBackoff : 0;
  if (!base) return options.defaultRetryDelay ?? 180;
  const max = options.retryBackoffMax ?? 600;
  let countdown = Math.min(max, base * 2 ** retries);
  if (options.retryJitter !== false) countdown = random() * countdown;
  return Math.max(0, countdown);
}

/**
 * Runs one task and classifies how it ended (like celery/app/trace.py). Used in-process by the
 * async pool and inside pool children; the parent turns the Outcome into results, events and acks.
 */
import { hostname } from 'node:os';
import { contextStorage } from '../app/context.js';
import { getTask } from '../app/registry.js';
import '../app/builtins.js';
import { backoffSeconds, makeRetry, matchesError, MaxRetriesSignal, progressReport, ReplaceSignal, stateReport, type ProgressReport, type DeliveryInfo, type SignatureInput, type Task, type TaskContext, type TaskOptions } from '../app/task.js';
import { declaredExceptionInfo } from '../app/python-exception.js';
import { checkAddToChord, checkReplacement } from '../app/task-api.js';
import type { SignatureDict } from '../protocol/signature.js';
import { pyrepr } from '../protocol/pyrepr.js';
import { performance } from 'node:perf_hooks';
import { Ignore, NotRegisteredError, Reject, Retry, SoftTimeLimitExceeded, type ExceptionInfo } from '../errors.js';
import { registeredTaskNames } from '../app/registry.js';
import { stringifyJson } from '../serialization/json.js';
import { isRuntimeFrame } from '../app/traceback.js';
import { runInTrace } from '../tracing/otel.js';
import type { TraceCarrier } from '../tracing/types.js';

/** What a pool needs to run a task (plain data: it crosses process and thread boundaries). */
export interface Job {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  retries: number;
  eta: string | null;
  rootId: string | null;
  parentId: string | null;
  groupId: string | null;
  /** The queue it was delivered from. */
  queue?: string;
  /** The message headers that are not protocol fields (customHeaders()); shared, never mutated. */
  headers: Readonly<Record<string, unknown>>;
  hostname: string;
  timeLimit: number | null;
  softTimeLimit: number | null;
  /** When the task expires (epoch ms): a pool that queues jobs checks it again before starting one (hand-off.ts). */
  expires: number | null;
  /** Its body came in a serializer that carries bytes (msgpack, YAML): IPC must keep them bytes. */
  binary?: boolean;
  /** OpenTelemetry: the context of the task's process span (tracing/otel.ts); the task runs under it. */
  trace?: TraceCarrier;
  /** Request fields a task may read (ctx.deliveryInfo, ...); absent ones are null. */
  deliveryInfo?: DeliveryInfo;
  replyTo?: string | null;
  correlationId?: string | null;
  groupIndex?: number | null;
  chord?: SignatureDict | null;
  callbacks?: SignatureDict[] | null;
  errbacks?: SignatureDict[] | null;
}

import type { Outcome } from '../protocol/outcome.js';
export type { Outcome };

/** JS errors with a Python builtin of the same name keep `builtins` so Python re-raises the same type. */
const PY_BUILTINS = new Set(['TypeError', 'ValueError', 'KeyError', 'RuntimeError', 'NotImplementedError', 'ZeroDivisionError']);

/**
 * Errors Celery has a class for, stored under Celery's name and module so Python's
 * `except celery.exceptions.TimeLimitExceeded` catches them (Celery's result backend re-raises
 * the class it finds in `sys.modules[exc_module]`; the billiard ones are what celery.exceptions
 * exports under the same names).
 */
const CELERY_ERRORS: Record<string, [type: string, module: string]> = {
  TimeLimitExceeded: ['TimeLimitExceeded', 'billiard.exceptions'],
  SoftTimeLimitExceeded: ['SoftTimeLimitExceeded', 'billiard.exceptions'],
  WorkerLostError: ['WorkerLostError', 'billiard.exceptions'],
  Terminated: ['Terminated', 'billiard.exceptions'],
  MaxRetriesExceededError: ['MaxRetriesExceededError', 'celery.exceptions'],
  NotRegisteredError: ['NotRegistered', 'celery.exceptions'],
  NotRegistered: ['NotRegistered', 'celery.exceptions'],
  TaskRevokedError: ['TaskRevokedError', 'celery.exceptions'],
  Retry: ['Retry', 'celery.exceptions'],
  Reject: ['Reject', 'celery.exceptions'],
  Ignore: ['Ignore', 'celery.exceptions'],
  InvalidTaskError: ['InvalidTaskError', 'celery.exceptions'],
  ChordError: ['ChordError', 'celery.exceptions'],
  // AsyncResult.get() timing out inside a task, as celery.exceptions.TimeoutError does in Python.
  TimeoutError: ['TimeoutError', 'celery.exceptions'],
};

function excClass(type: string): [type: string, module: string] {
  return CELERY_ERRORS[type] ?? [type, PY_BUILTINS.has(type) ? 'builtins' : 'sprig'];
}

/**
 * Drop Sprig's own frames (wherever the runtime is installed), Node's internals and OpenTelemetry's
 * context manager (app/traceback.ts): a stored traceback points at the user's code.
 */
function userStack(stack: string | undefined): string | undefined {
  if (!stack) return stack;
  const kept = stack.split('\n').filter((l, i) => i === 0 || !isRuntimeFrame(l));
  return kept.length > 1 ? kept.join('\n') : stack;
}

export function errorToInfo(err: unknown): { exc: ExceptionInfo; traceback: string; repr: string } {
  if (err instanceof Error) {
    const py = declaredExceptionInfo(err);
    if (py) return declaredInfo(err, py.exc, py.problem);
    const name = err.name && err.name !== 'Error' ? err.name : err.constructor?.name || 'Error';
    const [type, module] = excClass(name);
    const msg = err.message;
    // Celery's exc_message is the exception's args: the Celery-named errors carry theirs.
    const args = (err as { excArgs?: unknown }).excArgs;
    return {
      exc: { exc_type: type, exc_message: Array.isArray(args) ? args : [msg], exc_module: module },
      traceback: userStack(err.stack) ?? `${type}: ${msg}`,
      repr: `${type}(${JSON.stringify(msg)})`,
    };
  }
  const msg = typeof err === 'string' ? err : safeJson(err);
  return { exc: { exc_type: 'Error', exc_message: [msg], exc_module: 'sprig' }, traceback: `Error: ${msg}`, repr: `Error(${JSON.stringify(msg)})` };
}

/** A declared error (app/python-exception.ts): stored as the Python exception it stands for. */
function declaredInfo(err: Error, exc: ExceptionInfo, problem: string | undefined): { exc: ExceptionInfo; traceback: string; repr: string } {
  try {
    stringifyJson(exc.exc_message);
  } catch (e) {
    problem = `its args are not JSON-serializable (${(e as Error).message})`;
    exc = { ...exc, exc_message: [err.message] };
  }
  const repr = `${exc.exc_type}(${exc.exc_message.map((a) => pyrepr(a)).join(', ')})`;
  const tb = userStack(err.stack) ?? `${exc.exc_type}: ${err.message}`;
  return { exc, traceback: problem ? `${tb}\n(stored with args [message]: ${problem})` : tb, repr };
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** A result must survive JSON (the result backend's format; a BigInt is written exactly, json.ts). */
function checkSerializable(v: unknown): void {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'function' || typeof v === 'symbol') throw new TypeError(`task result of type ${typeof v} is not JSON-serializable`);
    return;
  }
  stringifyJson(v);
}

const host = hostname();
const NO_HEADERS: Readonly<Record<string, unknown>> = Object.freeze({});
const NO_DELIVERY: DeliveryInfo = Object.freeze({ exchange: '', routingKey: '', priority: null, redelivered: false });

/**
 * An AbortController made only when someone needs it: most tasks never look at their signal, and
 * one controller per task is measurable on the hot path.
 */
export class LazyAbort {
  private ac?: AbortController;
  /** Where the job's ctx.progress / ctx.updateState go (set by the pool; none: they are dropped). */
  onProgress?: (r: ProgressReport) => void;
  get signal(): AbortSignal {
    return (this.ac ??= new AbortController()).signal;
  }
  abort(reason: unknown): void {
    (this.ac ??= new AbortController()).abort(reason);
  }
}

/**
 * A task's `ctx`: plain data fields (so logging or spreading it shows them) and accessors on the
 * prototype (no closures per task, which a literal with getters would cost). It implements the
 * TaskContext interface field for field.
 */
class JobContext implements TaskContext {
  readonly id: string;
  readonly name: string;
  readonly retries: number;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly hostname: string;
  readonly eta: Date | null;
  readonly rootId: string | null;
  readonly parentId: string | null;
  readonly groupId: string | null;
  readonly queue: string;
  readonly expires: Date | null;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly replyTo: string | null;
  readonly correlationId: string | null;
  readonly groupIndex: number | null;
  /** Parts ctx.addToChord() added: the worker sends them when the task returns (Outcome.added). */
  added?: SignatureDict[];

  constructor(
    private readonly job: Job,
    private readonly opts: TaskOptions,
    private readonly abort: LazyAbort,
  ) {
    this.id = job.id;
    this.name = job.name;
    this.retries = job.retries;
    this.args = job.args;
    this.kwargs = job.kwargs;
    this.hostname = job.hostname || host;
    this.eta = job.eta ? new Date(job.eta) : null;
    this.rootId = job.rootId;
    this.parentId = job.parentId;
    this.groupId = job.groupId ?? null;
    this.queue = job.queue ?? '';
    this.expires = job.expires === null ? null : new Date(job.expires);
    this.headers = job.headers ?? NO_HEADERS;
    this.replyTo = job.replyTo ?? null;
    this.correlationId = job.correlationId ?? null;
    this.groupIndex = job.groupIndex ?? null;
  }

  /** Made when read (most tasks never do): the default exchange, routed by the queue's name, unless the job says otherwise. */
  get deliveryInfo(): DeliveryInfo {
    return this.job.deliveryInfo ?? (this.job.queue ? { ...NO_DELIVERY, routingKey: this.job.queue } : NO_DELIVERY);
  }

  /**
   * The canvas fields are the worker's own (in the async pool the very objects it sends from after
   * the task): a task gets a frozen copy, made when first read.
   */
  private copies?: { chord?: SignatureDict | null; callbacks?: SignatureDict[] | null; errbacks?: SignatureDict[] | null };

  private copy<K extends 'chord' | 'callbacks' | 'errbacks'>(k: K): NonNullable<Job[K]> | null {
    const c = (this.copies ??= {});
    if (!(k in c)) c[k] = this.job[k] ? deepFreeze(structuredClone(this.job[k])) : null;
    return (c[k] ?? null) as NonNullable<Job[K]> | null;
  }

  get chord(): SignatureDict | null {
    return this.copy('chord');
  }

  get callbacks(): SignatureDict[] | null {
    return this.copy('callbacks');
  }

  get errbacks(): SignatureDict[] | null {
    return this.copy('errbacks');
  }

  get replace(): TaskContext['replace'] {
    return (sig: SignatureInput) => {
      throw new ReplaceSignal(checkReplacement(sig));
    };
  }

  get addToChord(): TaskContext['addToChord'] {
    return (sig: SignatureInput) => {
      const part = checkAddToChord(sig, this);
      (this.added ??= []).push(part.sig);
      return { id: part.id };
    };
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** A getter, so `const { retry } = ctx` works too; the function is made only when asked for. */
  get retry(): TaskContext['retry'] {
    return (o) => makeRetry(this.job, this.opts, o);
  }

  get progress(): TaskContext['progress'] {
    return (done, total, meta) => this.abort.onProgress?.(progressReport(done, total, meta));
  }

  get updateState(): TaskContext['updateState'] {
    return (state, meta) => this.abort.onProgress?.(stateReport(state, meta));
  }
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

function callTask(task: Task, ctx: TaskContext, args: unknown[]): unknown {
  return task.options.bind ? task.fn(ctx, ...args) : task.fn(...args);
}

/**
 * Runs the task. A synchronous task gets its Outcome back synchronously (no promise, no microtask:
 * that is most of the cost of a tiny task); one that returns a promise gets a Promise<Outcome>.
 */
export function executeTask(job: Job, abort: LazyAbort): Outcome | Promise<Outcome> {
  return job.trace ? runInTrace(job.trace, () => execute(job, abort)) : execute(job, abort);
}

function execute(job: Job, abort: LazyAbort): Outcome | Promise<Outcome> {
  const t0 = performance.now();
  const task = getTask(job.name);
  if (!task) {
    const e = errorToInfo(new NotRegisteredError(job.name, registeredTaskNames()));
    return { state: 'FAILURE', ...e, runtime: 0 };
  }
  const opts = task.options;
  const ctx = new JobContext(job, opts, abort);
  try {
    const args = hasKeys(job.kwargs) ? [...job.args, job.kwargs] : job.args;
    const result = contextStorage.run(ctx, callTask, task, ctx, args);
    if (result && typeof (result as Promise<unknown>).then === 'function') return settleAsync(result as Promise<unknown>, job, opts, t0, ctx);
    return withAdded(succeeded(result, job, opts, t0), ctx);
  } catch (err) {
    return withAdded(failed(err, job, opts, t0), ctx);
  }
}

async function settleAsync(result: Promise<unknown>, job: Job, opts: TaskOptions, t0: number, ctx: JobContext): Promise<Outcome> {
  try {
    return withAdded(succeeded(await result, job, opts, t0), ctx);
  } catch (err) {
    return withAdded(failed(err, job, opts, t0), ctx);
  }
}

/** The chord parts the task added (ctx.addToChord) go with its outcome: the worker sends them. */
function withAdded(o: Outcome, ctx: JobContext): Outcome {
  if (ctx.added) o.added = ctx.added;
  return o;
}

function succeeded(result: unknown, job: Job, opts: TaskOptions, t0: number): Outcome {
  try {
    checkSerializable(result);
  } catch (err) {
    return failed(err, job, opts, t0);
  }
  return { state: 'SUCCESS', result: result === undefined ? null : result, runtime: (performance.now() - t0) / 1000 };
}

/** How a task that threw ended: retry, ignore, reject or failure (celery/app/trace.py). */
function failed(err: unknown, job: Job, opts: TaskOptions, t0: number): Outcome {
  const runtime = (performance.now() - t0) / 1000;
  if (err instanceof Retry) {
    const info = err.exc !== undefined ? errorToInfo(err.exc) : null;
    const countdown = err.eta ? Math.max(0, (err.eta.getTime() - Date.now()) / 1000) : err.countdown ?? 0;
    const repr = `Retry in ${Number(countdown.toFixed(3))}s${info ? `: ${info.repr}` : ''}`;
    return { state: 'RETRY', countdown, exc: info?.exc ?? null, traceback: info?.traceback ?? '', repr, runtime };
  }
  if (err instanceof ReplaceSignal) return { state: 'REPLACED', sig: err.sig, runtime };
  if (err instanceof Ignore) return { state: 'IGNORED', runtime };
  if (err instanceof Reject) return { state: 'REJECTED', requeue: err.requeue, reason: err.message, runtime };
  if (err instanceof MaxRetriesSignal) {
    return { state: 'FAILURE', ...errorToInfo(err), runtime };
  }
  const max = opts.maxRetries === undefined ? 3 : opts.maxRetries;
  if (!(err instanceof SoftTimeLimitExceeded) && matchesError(err, opts.autoretryFor) && (max === null || job.retries < max)) {
    const info = errorToInfo(err);
    const countdown = backoffSeconds(opts, job.retries);
    return { state: 'RETRY', countdown, exc: info.exc, traceback: info.traceback, repr: `Retry in ${Number(countdown.toFixed(3))}s: ${info.repr}`, runtime };
  }
  return { state: 'FAILURE', ...errorToInfo(err), runtime };
}

function hasKeys(o: Record<string, unknown>): boolean {
  for (const _ in o) return true;
  return false;
}

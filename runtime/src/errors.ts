/**
 * Error hierarchy (like celery/exceptions.py). Every error has a stable `code`.
 *
 * SprigError
 * ├── ConfigError            bad flag, setting or URL (user-facing, one line)
 * ├── ConnectionError        broker/backend unreachable or dropped (recoverable: retried); each adapter
 * │                          turns its own lost-connection errors into one (its `isConnectionError`)
 * ├── ProtocolError          a message that is not Celery protocol v2
 * │   ├── ContentDisallowedError   content type not in the accept list (never decoded)
 * │   ├── DecodeError              bytes that do not decode with their declared serializer
 * │   └── MessageTooLargeError
 * ├── NotRegisteredError     a task name no worker here knows
 * ├── TimeoutError           AsyncResult.get() waited too long
 * ├── TaskError              a task failed: carries Celery's {exc_type, exc_message, exc_module}
 * └── control flow (not failures): Retry, Reject, Ignore
 */
export class SprigError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class ConfigError extends SprigError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CONFIG', message, options);
  }
}

export class ConnectionError extends SprigError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CONNECTION', message, options);
  }
}

export class ProtocolError extends SprigError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'E_PROTOCOL', message, options);
  }
}

export class ContentDisallowedError extends ProtocolError {
  constructor(contentType: string, accept: readonly string[]) {
    super(`content type ${JSON.stringify(contentType)} is not accepted (accept: ${accept.join(', ')})`, {
      code: 'E_CONTENT_DISALLOWED',
    });
  }
}

export class DecodeError extends ProtocolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'E_DECODE' });
  }
}

export class MessageTooLargeError extends ProtocolError {
  constructor(size: number, limit: number) {
    super(`message of ${size} bytes is over the limit of ${limit} bytes`, { code: 'E_TOO_LARGE' });
  }
}

export class NotRegisteredError extends SprigError {
  constructor(taskName: string, known: readonly string[] = []) {
    const hint = known.length ? ` (registered: ${known.slice(0, 10).join(', ')}${known.length > 10 ? ', ...' : ''})` : '';
    super('E_NOT_REGISTERED', `task ${JSON.stringify(taskName)} is not registered${hint}`);
  }
}

export class TimeoutError extends SprigError {
  constructor(message: string) {
    super('E_TIMEOUT', message);
  }
}

/** Celery's serialized exception shape. */
export interface ExceptionInfo {
  exc_type: string;
  exc_message: unknown[];
  exc_module: string;
}

/** Raised by AsyncResult.get() when the task ended in FAILURE. */
export class TaskError extends SprigError {
  readonly excType: string;
  readonly excModule: string;
  readonly excMessage: unknown[];
  readonly traceback: string | null;
  readonly taskId: string;
  constructor(taskId: string, info: ExceptionInfo, traceback: string | null) {
    const msg = info.exc_message.map((m) => (typeof m === 'string' ? m : safeText(m))).join(', ');
    super('E_TASK_FAILED', `${info.exc_type}: ${msg}`);
    this.taskId = taskId;
    this.excType = info.exc_type;
    this.excModule = info.exc_module;
    this.excMessage = info.exc_message;
    this.traceback = traceback;
  }

  /** The exception's args, as Python's `e.args` (the same array as excMessage). */
  get args(): unknown[] {
    return this.excMessage;
  }
}

function safeText(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Control flow: the task asked to be retried. Not a failure. */
export class Retry extends SprigError {
  readonly countdown?: number;
  readonly eta?: Date;
  readonly exc?: unknown;
  constructor(opts: { countdown?: number; eta?: Date; exc?: unknown } = {}) {
    super('E_RETRY', `Retry in ${opts.countdown ?? 0}s${opts.exc ? `: ${String((opts.exc as Error).message ?? opts.exc)}` : ''}`);
    this.countdown = opts.countdown;
    this.eta = opts.eta;
    this.exc = opts.exc;
  }
}

/** Control flow: reject the message (dead-letter it unless requeue). */
export class Reject extends SprigError {
  readonly requeue: boolean;
  constructor(reason: string, requeue = false) {
    super('E_REJECT', reason);
    this.requeue = requeue;
  }
}

/** Control flow: do not record a result for this task. */
export class Ignore extends SprigError {
  constructor(reason = 'ignored') {
    super('E_IGNORE', reason);
  }
}

/** A task exceeded its retries; carries the last exception. */
export class MaxRetriesExceededError extends SprigError {
  constructor(taskName: string, taskId: string, max: number, options?: { cause?: unknown }) {
    super('E_MAX_RETRIES', `Can't retry ${taskName}[${taskId}] times: max retries (${max}) exceeded`, options);
  }
}

/** Raised in the task (its signal aborts with it). Celery's carries no arguments. */
export class SoftTimeLimitExceeded extends SprigError {
  readonly excArgs: unknown[] = [];
  constructor(seconds: number) {
    super('E_SOFT_TIME_LIMIT', `SoftTimeLimitExceeded(${seconds})`);
  }
}

/** The task was stopped at its hard limit. Celery's argument is the limit in seconds. */
export class TimeLimitExceeded extends SprigError {
  readonly excArgs: unknown[];
  constructor(seconds: number) {
    super('E_TIME_LIMIT', `TimeLimitExceeded(${seconds})`);
    this.excArgs = [seconds];
  }
}

export class WorkerLostError extends SprigError {
  constructor(message: string) {
    super('E_WORKER_LOST', message);
  }
}

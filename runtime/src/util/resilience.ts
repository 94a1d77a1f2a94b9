/**
 * Connection resilience, written once for every broker and backend: sleep, deadlines, and one
 * backoff. What counts as a lost connection is the one thing an adapter brings itself (its
 * `isConnectionError`, as kombu's transports bring their `connection_errors`).
 */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/**
 * Delay before reconnect attempt `attempt` (0-based): "full jitter", uniform in [0, cap) with the
 * cap doubling from `baseMs` up to `maxMs`, so clients dropped together do not come back in
 * lockstep (AWS Architecture Blog, "Exponential Backoff And Jitter").
 */
export function backoff(attempt: number, baseMs: number, maxMs: number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.random() * cap;
}

export interface RetryOptions {
  /** Retries after the first attempt; 0: retry forever. */
  maxRetries: number;
  /** Full-jitter backoff: the cap starts at `baseMs` and doubles up to `maxMs`. */
  baseMs: number;
  maxMs: number;
  /** Only these errors are retried (an adapter's connection errors); the rest are thrown at once. */
  retryable(err: unknown): boolean;
  /** Told before each wait: the error, the number of the attempt to come (2 for the first retry), the delay. */
  onRetry?(err: unknown, nextAttempt: number, delayMs: number): void;
  /** Stop retrying (the caller is shutting down): the last error is thrown. */
  stopped?(): boolean;
}

/** Thrown when the retries are used up: `attempts` tries in all, `cause` the last error. */
export class RetriesExhausted extends Error {
  constructor(
    readonly attempts: number,
    readonly last: unknown,
  ) {
    super(`gave up after ${attempts} attempts: ${(last as Error)?.message ?? String(last)}`, { cause: last });
  }
}

/** Run `fn` until it succeeds, waiting a full-jitter backoff between attempts (Celery's retry on startup). */
export async function retryWithBackoff<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!o.retryable(err) || o.stopped?.()) throw err;
      if (o.maxRetries > 0 && attempt > o.maxRetries) throw new RetriesExhausted(attempt, err);
      const delay = backoff(attempt - 1, o.baseMs, o.maxMs);
      o.onRetry?.(err, attempt + 1, delay);
      await sleep(delay);
      if (o.stopped?.()) throw err;
    }
  }
}

/** A point in time `ms` from now. */
export class Deadline {
  readonly at: number;
  constructor(ms: number) {
    this.at = Date.now() + ms;
  }

  /** Milliseconds left, never negative. */
  get left(): number {
    return Math.max(0, this.at - Date.now());
  }

  get passed(): boolean {
    return Date.now() >= this.at;
  }
}

/** `p`, or a rejection with `onTimeout()` once `ms` have passed first. */
export function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), Math.max(0, ms));
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Wait for `p` to settle, but no longer than `ms`; never rejects (goodbyes on a half-dead connection). */
export function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  return withDeadline(
    p.then(
      () => undefined,
      () => undefined,
    ),
    ms,
    () => new Error('late'),
  ).catch(() => undefined);
}

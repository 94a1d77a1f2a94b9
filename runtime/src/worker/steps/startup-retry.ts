/**
 * Celery's `broker_connection_retry_on_startup`: a worker started before its broker (or restarted
 * during an outage) retries with backoff and comes up by itself, one line per attempt, bounded by
 * `broker_connection_max_retries` (0: forever). Only lost/refused connections are retried: a wrong
 * password or a missing vhost/database will not fix itself, it is reported at once.
 */
import { ConnectionError } from '../../errors.js';
import { RetriesExhausted, retryWithBackoff } from '../../util/resilience.js';
import type { Logger } from '../../util/log.js';

const BASE_MS = 1000;
const MAX_MS = 30_000;
const PERMANENT = /ACCESS.REFUSED|WRONGPASS|NOAUTH|password authentication failed|does not exist|NOT_ALLOWED|has no token/i;

export function isRetryableOnStartup(err: unknown): boolean {
  return err instanceof ConnectionError && !PERMANENT.test(err.message);
}

export interface StartupRetry {
  /** What is being connected to, for the log lines ('broker', 'result backend'). */
  what: string;
  /** Its URL, password redacted. */
  url: string;
  /** Retries after the first attempt (0: forever); undefined: no retry at all. */
  maxRetries: number | undefined;
  log: Logger;
  stopped?(): boolean;
}

export async function connectOnStartup<T>(connect: () => Promise<T>, o: StartupRetry): Promise<T> {
  if (o.maxRetries === undefined) return connect();
  const max = o.maxRetries;
  const reason = (err: unknown) => (err as Error)?.message ?? String(err);
  try {
    return await retryWithBackoff(connect, {
      maxRetries: max,
      baseMs: BASE_MS,
      maxMs: MAX_MS,
      retryable: isRetryableOnStartup,
      stopped: o.stopped,
      onRetry: (err, attempt, delayMs) =>
        o.log.warn(`${o.what} not reachable at ${o.url}: ${reason(err)}; retrying in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt}${max ? ` of ${max + 1}` : ''})`),
    });
  } catch (err) {
    if (!(err instanceof RetriesExhausted)) throw err;
    throw new ConnectionError(
      `${o.what} not reachable at ${o.url} after ${err.attempts} attempts: ${reason(err.last)}; giving up ` +
        `(brokerConnectionMaxRetries = ${max}; --broker-connection-max-retries 0 retries forever)`,
      { cause: err.last },
    );
  }
}

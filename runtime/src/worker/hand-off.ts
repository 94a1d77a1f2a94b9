/**
 * The check made each time a task is about to take a pool slot (Celery's `Request.revoked()`):
 * when it is received, when the consumer hands it to the pool, and when a pool child takes the
 * next job of its batch. A task can wait at each of these steps, and a revoke or its expiry may
 * come meanwhile; whichever step finds it so discards it instead of running it.
 */
import type { Outcome } from './trace.js';

export type Discard = 'revoked' | 'expired';

/**
 * Why the task must not start now, if it must not. Expiry is looked at first, as Celery does: a
 * task both revoked and expired is reported as expired.
 */
export function discardReason(id: string, expiresAt: number | null | undefined, revoked: ReadonlySet<string>, now = Date.now()): Discard | undefined {
  if (expiresAt != null && expiresAt <= now) return 'expired';
  if (revoked.size && revoked.has(id)) return 'revoked';
  return undefined;
}

/** The outcome of a job a pool discarded before it started (the consumer stores it as REVOKED). */
export function discardedOutcome(why: Discard): Outcome {
  return { state: 'REVOKED', expired: why === 'expired', runtime: 0 };
}

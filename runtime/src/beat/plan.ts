/**
 * Which runs of an entry to send now, from its last due time (persisted beside the lease) and the
 * catch-up policy. Pure: the scheduler and the unit tests call the same function.
 *
 * - No last run yet: `every` and `crontab` are anchored at now (nothing is sent: the first run is
 *   the next due time, as Celery's beat does for a new entry); `at` is due at its time.
 * - 'latest' (default): however many runs fell due since the last one, one is sent, with the
 *   latest due time (Celery's behaviour after downtime).
 * - 'all': each run that fell due is sent, oldest first, each with its own due time, at most
 *   `maxCatchUp` (the latest ones).
 * - 'skip': a run later than SKIP_GRACE_MS is recorded as done and not sent.
 */
import type { CatchUpPolicy } from '../app/schedule.js';
import type { Schedule } from './schedules.js';

export const SKIP_GRACE_MS = 2000;

export interface RunPlan {
  /** Due times to send now, oldest first. */
  runs: number[];
  /** The last due time to record; undefined: nothing changes. */
  lastDue?: number;
  /** Due runs not sent (skipped, collapsed or past maxCatchUp); lower bound when capped. */
  dropped: number;
}

export function planRuns(schedule: Schedule, lastDue: number | undefined, now: number, policy: CatchUpPolicy, maxCatchUp = 100): RunPlan {
  if (lastDue === undefined && schedule.kind !== 'at') return { runs: [], lastDue: now, dropped: 0 };
  const after = lastDue ?? -Infinity;
  const latest = schedule.latest(after, now);
  if (latest === undefined) return { runs: [], dropped: 0 };
  if (policy === 'skip') return now - latest > SKIP_GRACE_MS ? { runs: [], lastDue: latest, dropped: 1 } : { runs: [latest], lastDue: latest, dropped: 0 };
  if (policy === 'latest') {
    const earlier = schedule.latest(after, latest - 1);
    return { runs: [latest], lastDue: latest, dropped: earlier === undefined ? 0 : 1 };
  }
  const runs = [latest];
  let t = latest;
  for (;;) {
    const prev = schedule.latest(after, t - 1);
    if (prev === undefined) break;
    if (runs.length >= Math.max(1, maxCatchUp)) return { runs, lastDue: latest, dropped: 1 };
    runs.unshift(prev);
    t = prev;
  }
  return { runs, lastDue: latest, dropped: 0 };
}

/** The next due time of an entry from its last due time (for listing and sleeping). */
export function nextRun(schedule: Schedule, lastDue: number | undefined, now: number): number | undefined {
  if (lastDue === undefined) return schedule.kind === 'at' ? schedule.next(-Infinity) : schedule.next(now);
  return schedule.next(lastDue);
}

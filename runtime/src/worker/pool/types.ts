import type { Job, Outcome } from '../trace.js';
import type { ProgressReport } from '../../app/task.js';
import type { PoolKind } from '../../app/config.js';

export interface PoolOptions {
  concurrency: number;
  /** The worker-wide hard limit (seconds). The consumer already folds limits into each job; a pool only warns with it at start. */
  timeLimit?: number;
  maxTasksPerChild?: number;
  /** Kilobytes of RSS after which a child is replaced (process pool). */
  maxMemoryPerChild?: number;
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void;
  /** Extra environment for pool children (the worker's broker, so tasks that enqueue use it too). */
  childEnv?: Record<string, string>;
}

/** Runs jobs. The consumer only starts a job when `free > 0`. */
export interface Pool {
  readonly kind: PoolKind;
  readonly size: number;
  readonly free: number;
  /** Slots running something now. */
  readonly busy: number;
  /** Jobs handed to the pool that have not started yet (queued in children). */
  readonly backlog: number;
  start(): Promise<void>;
  /**
   * Run a job; `done` gets its outcome exactly once, and never before run() returned (so the
   * consumer can start jobs in a loop without re-entering itself). `started` is called once when
   * the job starts running in a slot (Celery's "accepted"), with the pid of the process that runs
   * it, possibly inside run(); never for a job that is discarded or terminated before it starts.
   * `progress` gets what the task reports (ctx.progress, ctx.updateState) while it runs, from any pool.
   */
  run(job: Job, done: (o: Outcome) => void, started?: (pid: number) => void, progress?: (r: ProgressReport) => void): void;
  /** Stop a running job (revoke --terminate): the outcome becomes FAILURE/REVOKED as the caller decides. */
  terminate(jobId: string, reason: string): boolean;
  grow(n: number): Promise<void>;
  shrink(n: number): Promise<void>;
  /** Graceful: wait for running jobs; else stop at once. */
  stop(graceful: boolean): Promise<void>;
  /** Pids of children (process pool) for inspection and tests. */
  pids(): number[];
  /** Swap in new code (autoreload): new jobs use it, running ones finish on the old. */
  reload?(bundle: string): Promise<void>;
  /** Called when a slot frees up. */
  onFree?: () => void;
  /** Process/thread pools: how many jobs a child may hold (the prefetch multiplier). */
  setDepth?(n: number): void;
  /**
   * The adaptive prefetch window's ceiling per slot (prefetch.ts MAX_MULTIPLIER when unset). Pools
   * fed in batches over a channel set a higher one: every batch costs a round trip whatever it carries.
   */
  readonly maxPrefetchMultiplier?: number;
  /**
   * Pools that queue jobs (children's batches): a job handed over but not started was revoked; it
   * must not start (its outcome becomes REVOKED). Jobs also carry their expiry, checked at the same
   * point (hand-off.ts). The async pool starts every job at once and needs neither.
   */
  revoke?(jobId: string): boolean;
  /** Handed over and not started yet (inspect: reserved, not active). */
  queued?(jobId: string): boolean;
}

/**
 * Hand one outcome of a batch to the consumer. If the consumer throws, the rest of the batch is
 * still handed back (else those tasks would never be acked); the error surfaces on its own, as an
 * uncaught exception, as it did when completion ran in a promise.
 */
export function handBackOutcome(done: (o: Outcome) => void, o: Outcome): void {
  try {
    done(o);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

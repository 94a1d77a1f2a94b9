import { executeTask, errorToInfo, LazyAbort, type Job, type Outcome } from '../trace.js';
import { SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError } from '../../errors.js';
import type { Pool, PoolOptions } from './types.js';

/**
 * Runs tasks in the worker's own event loop: best for I/O-bound async tasks. It cannot stop
 * synchronous code: a hard time limit fails the task and frees the slot, but a synchronous loop
 * keeps the event loop busy (the worker warns about this when a hard limit is set).
 */
export class AsyncPool implements Pool {
  readonly kind = 'async' as const;
  private running = new Map<string, LazyAbort>();
  /** Ends a running job's outcome at once (terminate): the code may go on, its result is ignored. */
  private stoppers = new Map<string, (o: Outcome) => void>();
  private idleWaiters: Array<() => void> = [];
  size: number;
  onFree?: () => void;

  constructor(private readonly o: PoolOptions) {
    this.size = o.concurrency;
  }

  readonly backlog = 0;

  get busy(): number {
    return this.running.size;
  }

  get free(): number {
    return Math.max(0, this.size - this.running.size);
  }

  private warned = false;

  /** Said once: at start when the worker has a default hard limit, else at the first task with one. */
  private warnHardLimit(): void {
    if (this.warned) return;
    this.warned = true;
    this.o.log('warn', 'async pool: a hard time limit fails the task and frees its slot, but cannot stop synchronous code; use --pool process or thread to kill it');
  }

  async start(): Promise<void> {
    if (this.o.timeLimit) this.warnHardLimit();
  }

  async run(job: Job): Promise<Outcome> {
    const ac = new LazyAbort();
    this.running.set(job.id, ac);
    const { timeLimit: hard, softTimeLimit: soft } = job;
    let softTimer: NodeJS.Timeout | undefined;
    let hardTimer: NodeJS.Timeout | undefined;
    try {
      const t0 = performance.now();
      const stopped = new Promise<Outcome>((resolve) => this.stoppers.set(job.id, resolve));
      const exec = Promise.race([executeTask(job, ac), stopped]);
      if (!hard && !soft) return await exec;
      if (soft) softTimer = setTimeout(() => ac.abort(new SoftTimeLimitExceeded(soft)), soft * 1000);
      if (!hard) return await exec;
      this.warnHardLimit();
      const limit = new Promise<Outcome>((resolve) => {
        hardTimer = setTimeout(() => {
          ac.abort(new TimeLimitExceeded(hard));
          resolve({ state: 'FAILURE', ...errorToInfo(new TimeLimitExceeded(hard)), runtime: (performance.now() - t0) / 1000 });
        }, hard * 1000);
      });
      return await Promise.race([exec, limit]);
    } finally {
      clearTimeout(softTimer);
      clearTimeout(hardTimer);
      this.running.delete(job.id);
      this.stoppers.delete(job.id);
      if (this.running.size === 0) for (const w of this.idleWaiters.splice(0)) w();
      this.onFree?.();
    }
  }

  /**
   * Aborts the task's signal and ends it now, freeing the slot. Like a hard time limit here, code
   * that ignores its signal keeps running in the background; its result is discarded.
   */
  terminate(jobId: string, reason: string): boolean {
    const ac = this.running.get(jobId);
    if (!ac) return false;
    ac.abort(new Error(reason));
    this.stoppers.get(jobId)?.({ state: 'FAILURE', ...errorToInfo(new WorkerLostError(reason)), runtime: 0 });
    return true;
  }

  async grow(n: number): Promise<void> {
    this.size += n;
    this.onFree?.();
  }

  async shrink(n: number): Promise<void> {
    this.size = Math.max(1, this.size - n);
  }

  async stop(graceful: boolean): Promise<void> {
    if (!graceful) {
      for (const ac of this.running.values()) ac.abort(new Error('worker shutdown'));
      return;
    }
    if (this.running.size) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  pids(): number[] {
    return [process.pid];
  }
}

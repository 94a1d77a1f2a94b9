import { executeTask, errorToInfo, LazyAbort, type Job, type Outcome } from '../trace.js';
import type { ProgressReport } from '../../app/task.js';
import { SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError } from '../../errors.js';
import { handBackOutcome, type Pool, type PoolOptions } from './types.js';
import { setLongTimeout } from '../../util/timers.js';

/**
 * Runs tasks in the worker's own event loop: best for I/O-bound async tasks. It cannot stop
 * synchronous code: a hard time limit fails the task and frees the slot, but a synchronous loop
 * keeps the event loop busy (the worker warns about this when a hard limit is set).
 */
interface Running {
  abort: LazyAbort;
  done: (o: Outcome) => void;
  settled: boolean;
  /** Set when it settles, until it is handed back. */
  outcome?: Outcome;
  t0: number;
  softTimer?: NodeJS.Timeout;
  hardTimer?: NodeJS.Timeout;
}

export class AsyncPool implements Pool {
  readonly kind = 'async' as const;
  private running = new Map<string, Running>();
  /** Outcomes waiting for the next microtask: a tick's worth of tasks is handed back in one go. */
  private finished: Running[] = [];
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

  run(job: Job, done: (o: Outcome) => void, started?: (pid: number) => void, progress?: (r: ProgressReport) => void): void {
    const r: Running = { abort: new LazyAbort(), done, settled: false, t0: performance.now() };
    if (progress) r.abort.onProgress = (p) => !r.settled && progress(p);
    // Every job starts at once here, in this process.
    started?.(process.pid);
    this.running.set(job.id, r);
    const { timeLimit: hard, softTimeLimit: soft } = job;
    if (soft) r.softTimer = setLongTimeout(() => r.abort.abort(new SoftTimeLimitExceeded(soft)), soft * 1000);
    if (hard) {
      this.warnHardLimit();
      r.hardTimer = setLongTimeout(() => {
        r.abort.abort(new TimeLimitExceeded(hard));
        this.settle(job.id, r, { state: 'FAILURE', ...errorToInfo(new TimeLimitExceeded(hard)), runtime: (performance.now() - r.t0) / 1000 });
      }, hard * 1000);
    }
    const out = executeTask(job, r.abort);
    if (out instanceof Promise) void out.then((o) => this.settle(job.id, r, o));
    else this.settle(job.id, r, out);
  }

  /** The first outcome wins (a time limit or terminate may come before the task's own). */
  private settle(id: string, r: Running, o: Outcome): void {
    if (r.settled) return;
    r.settled = true;
    clearTimeout(r.softTimer);
    clearTimeout(r.hardTimer);
    this.running.delete(id);
    r.outcome = o;
    if (this.finished.push(r) === 1) queueMicrotask(this.handBackLater);
  }

  private readonly handBackLater = (): void => this.handBack();

  /** Never inside run(): the consumer's pump must not re-enter itself. */
  private handBack(): void {
    const batch = this.finished;
    this.finished = [];
    for (const r of batch) handBackOutcome(r.done, r.outcome!);
    if (this.running.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    this.onFree?.();
  }

  /**
   * Aborts the task's signal and ends it now, freeing the slot. Like a hard time limit here, code
   * that ignores its signal keeps running in the background; its result is discarded.
   */
  terminate(jobId: string, reason: string): boolean {
    const r = this.running.get(jobId);
    if (!r) return false;
    r.abort.abort(new Error(reason));
    this.settle(jobId, r, { state: 'FAILURE', ...errorToInfo(new WorkerLostError(reason)), runtime: 0 });
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
      for (const r of this.running.values()) r.abort.abort(new Error('worker shutdown'));
      return;
    }
    if (this.running.size || this.finished.length) await new Promise<void>((res) => this.idleWaiters.push(res));
  }

  pids(): number[] {
    return [process.pid];
  }
}

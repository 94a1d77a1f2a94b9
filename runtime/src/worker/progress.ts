/**
 * What a running task reports (ctx.progress, ctx.updateState) on its way out of the worker: stored
 * in the result backend as Celery's update_state does (the custom state with its meta as the
 * result) and sent as a `task-progress` event. A task may report in a tight loop: at most one
 * report per PROGRESS_INTERVAL_MS goes out, and the latest is never lost (it goes at the end of the
 * interval), unless the task ended first — its outcome supersedes it.
 */
import type { ProgressReport } from '../app/task.js';

export const PROGRESS_INTERVAL_MS = 200;
/** A meta larger than this (as JSON) is stored but not sent in the event (every monitor receives events). */
const EVENT_META_MAX = 4096;

export interface ProgressSink {
  store(r: ProgressReport): Promise<void>;
  send(r: ProgressReport & { meta: unknown }): void;
  log(msg: string): void;
}

export class ProgressRelay {
  private last = 0;
  private pending?: ProgressReport;
  private timer?: NodeJS.Timeout;
  private closed = false;
  /** One store at a time, in order: a late store must not overwrite a newer state. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly sink: ProgressSink) {}

  report(r: ProgressReport): void {
    if (this.closed) return;
    const now = Date.now();
    if (now - this.last >= PROGRESS_INTERVAL_MS && !this.timer) return this.emit(r, now);
    this.pending = r;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      const p = this.pending;
      this.pending = undefined;
      if (p && !this.closed) this.emit(p, Date.now());
    }, Math.max(0, PROGRESS_INTERVAL_MS - (now - this.last)));
  }

  /** The task ended: nothing more goes out; resolves once a store under way is done (the outcome is stored after it). */
  close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    return this.chain;
  }

  private emit(r: ProgressReport, now: number): void {
    this.last = now;
    let meta = r.meta;
    try {
      if ((JSON.stringify(meta)?.length ?? 0) > EVENT_META_MAX) meta = null;
    } catch {
      meta = null;
    }
    this.sink.send({ ...r, meta });
    this.chain = this.chain.then(() => this.sink.store(r)).catch((err: unknown) => this.sink.log(`cannot store progress: ${(err as Error).message}`));
  }
}

import { TaskError, TimeoutError } from '../errors.js';
import { READY_STATES, parseExceptionInfo, type ResultBackend, type ResultMeta, type TaskState } from '../backends/types.js';

export interface GetOptions {
  /** Seconds to wait (default: forever). */
  timeout?: number;
  /** Throw a TaskError when the task failed (default true). */
  propagate?: boolean;
}

/** A handle on a task's result (Celery's AsyncResult). */
export class AsyncResult<R = unknown> {
  private lastState: TaskState = 'PENDING';
  private meta: ResultMeta | null = null;
  /** Resolves once the broker has accepted the message; rejects if publishing failed. */
  readonly sent: Promise<void>;
  /** In a chain: the result of the step before (a GroupResult before a chord body). */
  parent?: { readonly id: string; get(opts?: GetOptions): Promise<unknown> };

  constructor(
    readonly id: string,
    private readonly backend: () => Promise<ResultBackend>,
    sent: Promise<void> = Promise.resolve(),
    readonly taskName?: string,
  ) {
    this.sent = sent;
    // Publishing errors surface through `sent` and `get()`; don't crash the process meanwhile.
    sent.catch(() => undefined);
  }

  /** The last state seen (PENDING until `refresh()`/`get()` learned more). */
  get state(): TaskState {
    return this.lastState;
  }

  /** Fetch the current state from the backend. */
  async refresh(): Promise<ResultMeta | null> {
    const meta = await (await this.backend()).get(this.id);
    if (meta) {
      this.meta = meta;
      this.lastState = meta.status;
    }
    return meta;
  }

  async status(): Promise<TaskState> {
    await this.refresh();
    return this.lastState;
  }

  async ready(): Promise<boolean> {
    return READY_STATES.has(await this.status());
  }

  /** The traceback of a failed task, once known. */
  get traceback(): string | null {
    return this.meta?.traceback ?? null;
  }

  /** Wait for the task and return its value; a failure throws TaskError. */
  async get(opts: GetOptions = {}): Promise<R> {
    const timeoutMs = opts.timeout === undefined ? undefined : opts.timeout * 1000;
    let meta: ResultMeta;
    try {
      meta = await this.waitWhileSending(timeoutMs);
    } catch (err) {
      if (err instanceof TimeoutError) throw new TimeoutError(`task ${this.taskName ?? ''}[${this.id}] did not finish within ${opts.timeout}s (state ${this.lastState})`);
      throw err;
    }
    this.meta = meta;
    this.lastState = meta.status;
    if (meta.status === 'SUCCESS') return meta.result as R;
    if (opts.propagate === false) return meta.result as R;
    const info = parseExceptionInfo(meta.result) ?? { exc_type: meta.status === 'REVOKED' ? 'TaskRevokedError' : 'Error', exc_message: [String(meta.result ?? meta.status)], exc_module: 'celery.exceptions' };
    throw new TaskError(this.id, info, meta.traceback);
  }

  /**
   * The wait starts beside the send when the backend allows it (its SUBSCRIBE goes out with the
   * message, not a round trip after); a send that fails still fails get(), and ends the wait.
   */
  private async waitWhileSending(timeoutMs: number | undefined): Promise<ResultMeta> {
    // The send's failure comes first, as when the wait started after it.
    const backend = await this.backend().catch(async (err: unknown) => {
      await this.sent;
      throw err;
    });
    if (!backend.waitsWhileSending) {
      await this.sent;
      return backend.waitFor(this.id, timeoutMs);
    }
    const stop = new AbortController();
    const waiting = backend.waitFor(this.id, timeoutMs, stop.signal);
    // Handled here while the send is under way (a short timeout may end the wait first).
    waiting.catch(() => undefined);
    try {
      await this.sent;
    } catch (err) {
      stop.abort(err);
      throw err;
    }
    return waiting;
  }

  toJSON(): { id: string; state: TaskState } {
    return { id: this.id, state: this.lastState };
  }
}

import { EventEmitter } from 'node:events';
import { TimeoutError } from '../errors.js';
import { READY_STATES, type ResultMeta } from './types.js';
import { setLongTimeout } from '../util/timers.js';

/** Results kept in a Map, with expiry: the Hub's (embedded broker and memory://). */
export class ResultStore {
  private readonly results = new Map<string, { meta: ResultMeta; expiresAt: number }>();
  private readonly emitter = new EventEmitter();
  constructor() {
    this.emitter.setMaxListeners(0);
  }

  set(meta: ResultMeta, expiresSec: number): void {
    this.results.set(meta.task_id, { meta, expiresAt: Date.now() + expiresSec * 1000 });
    this.emitter.emit(meta.task_id, meta);
  }

  get(taskId: string): ResultMeta | null {
    const r = this.results.get(taskId);
    if (!r) return null;
    if (r.expiresAt < Date.now()) {
      this.results.delete(taskId);
      return null;
    }
    return r.meta;
  }

  delete(taskId: string): void {
    this.results.delete(taskId);
  }

  entries(): IterableIterator<[string, { meta: ResultMeta; expiresAt: number }]> {
    return this.results.entries();
  }

  /** Calls `listener` on every stored state of `taskId`; returns an unsubscribe. */
  watch(taskId: string, listener: (meta: ResultMeta) => void): () => void {
    this.emitter.on(taskId, listener);
    return () => this.emitter.off(taskId, listener);
  }

  waitFor(taskId: string, timeoutMs: number | undefined): Promise<ResultMeta> {
    const now = this.get(taskId);
    if (now && READY_STATES.has(now.status)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const off = this.watch(taskId, (meta) => {
        if (!READY_STATES.has(meta.status)) return;
        off();
        if (timer) clearTimeout(timer);
        resolve(meta);
      });
      if (timeoutMs !== undefined) {
        timer = setLongTimeout(() => {
          off();
          reject(new TimeoutError(`no result for task ${taskId} within ${timeoutMs / 1000}s`));
        }, timeoutMs);
      }
    });
  }
}

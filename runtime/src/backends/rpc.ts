/**
 * Celery's `rpc://` result backend: results are messages, not stored values. The worker
 * publishes each state of a task to the reply queue named in the task message's `reply_to`
 * (default exchange, correlation_id = task id); the client consumes its own reply queue and
 * keeps the latest state per task id, so a result that arrived before waitFor() is not lost.
 * There is no lookup by id on the server: get() only knows what this client has received.
 */
import { ConnectionError, TimeoutError } from '../errors.js';
import { serializers } from '../serialization/registry.js';
import { READY_STATES, type ResultBackend, type ResultMeta } from './types.js';
import { stringifyJson } from '../serialization/json.js';
import { setLongTimeout } from '../util/timers.js';

/** What the rpc backend needs from its broker (AmqpBroker implements it). */
export interface RpcTransport {
  /** Name of this client's reply queue (declared and consumed on first call). */
  replyQueue(): Promise<string>;
  /** Publish a result to `replyTo` via the default exchange; resolves when the broker has it. */
  publishReply(replyTo: string, correlationId: string, body: Buffer, contentType: string): Promise<void>;
  /** Where received replies are kept. */
  readonly replies: ReplyBuffer;
}

/** Celery's rpc result body order: task_id, status, result, traceback, children, then the rest. */
export function encodeRpcResult(meta: ResultMeta): Buffer {
  const { replyTo: _omit, ...rest } = meta;
  const m = rest as Record<string, unknown>;
  const o: Record<string, unknown> = { task_id: meta.task_id, status: meta.status, result: meta.result, traceback: meta.traceback, children: meta.children ?? [] };
  for (const [k, v] of Object.entries(m)) if (!(k in o) && v !== undefined) o[k] = v;
  return Buffer.from(stringifyJson(o), 'utf8');
}

const DEFAULT_MAX_BUFFERED = 10_000;

/**
 * The latest state received per task id. Bounded: the oldest entries go first, so a client
 * that never reads its results does not grow without end.
 */
export class ReplyBuffer {
  private readonly latest = new Map<string, ResultMeta>();
  private readonly watchers = new Map<string, Set<(m: ResultMeta) => void>>();

  constructor(private readonly max = DEFAULT_MAX_BUFFERED) {}

  get size(): number {
    return this.latest.size;
  }

  /** A reply as received; undecodable ones are ignored (returns false). */
  add(correlationId: string | undefined, body: Buffer, contentType: string | undefined): boolean {
    let v: unknown;
    try {
      v = serializers.decode(body, contentType || 'application/json');
    } catch {
      return false;
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
    const meta = v as ResultMeta;
    if (typeof meta.status !== 'string') return false;
    const id = typeof meta.task_id === 'string' && meta.task_id ? meta.task_id : correlationId;
    if (!id) return false;
    meta.task_id = id;
    meta.children ??= [];
    meta.traceback ??= null;
    meta.date_done ??= null;
    this.latest.delete(id); // re-insert: most recent last
    this.latest.set(id, meta);
    if (this.latest.size > this.max) this.latest.delete(this.latest.keys().next().value!);
    for (const w of [...(this.watchers.get(id) ?? [])]) w(meta);
    return true;
  }

  get(id: string): ResultMeta | undefined {
    return this.latest.get(id);
  }

  delete(id: string): void {
    this.latest.delete(id);
  }

  watch(id: string, fn: (m: ResultMeta) => void): () => void {
    let set = this.watchers.get(id);
    if (!set) this.watchers.set(id, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.watchers.get(id) === set) this.watchers.delete(id);
    };
  }
}

export class RpcBackend implements ResultBackend {
  readonly kind = 'rpc';
  private readonly pending = new Set<(err: Error) => void>();
  private closed = false;

  constructor(private readonly transport: RpcTransport) {}

  /**
   * Worker side: publish the state to the caller's reply queue. Without `meta.replyTo` (the
   * task message had no reply_to) nobody can receive it, so there is nothing to do.
   */
  async store(meta: ResultMeta, _expiresSec?: number): Promise<void> {
    if (!meta.replyTo) return;
    await this.transport.publishReply(meta.replyTo, meta.task_id, encodeRpcResult(meta), 'application/json');
  }

  /** The latest state this client received for `taskId` (rpc has no server-side lookup). */
  async get(taskId: string): Promise<ResultMeta | null> {
    await this.transport.replyQueue();
    return this.transport.replies.get(taskId) ?? null;
  }

  waitFor(taskId: string, timeoutMs: number | undefined): Promise<ResultMeta> {
    if (this.closed) return Promise.reject(new ConnectionError('result backend closed'));
    return new Promise<ResultMeta>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let unwatch = (): void => undefined;
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        unwatch();
        this.pending.delete(fail);
        fn();
      };
      const fail = (err: Error) => finish(() => reject(err));
      this.pending.add(fail);
      unwatch = this.transport.replies.watch(taskId, (m) => {
        if (READY_STATES.has(m.status)) finish(() => resolve(m));
      });
      if (timeoutMs !== undefined) {
        timer = setLongTimeout(() => fail(new TimeoutError(`task ${taskId} not ready after ${timeoutMs} ms`)), timeoutMs);
      }
      this.transport.replyQueue().then(() => {
        const m = this.transport.replies.get(taskId);
        if (m && READY_STATES.has(m.status)) finish(() => resolve(m));
      }, fail);
    });
  }

  async forget(taskId: string): Promise<void> {
    this.transport.replies.delete(taskId);
  }

  /** Ends this backend's waits; the reply queue belongs to the broker and closes with it. */
  async close(): Promise<void> {
    this.closed = true;
    const err = new ConnectionError('result backend closed while waiting');
    for (const f of [...this.pending]) f(err);
  }
}

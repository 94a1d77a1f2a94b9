import { ConnectionError, TimeoutError } from '../../errors.js';
import { DEFAULT_RESULT_EXPIRES, READY_STATES, type ResultBackend, type ResultMeta } from '../../backends/types.js';
import {
  connectOnce,
  createRedisClient,
  duplicateClient,
  parseRedisTarget,
  quiet,
  ReplicaWait,
  waitForReplicas,
  withTimeout,
  type RedisClient,
  type TransportOptions,
} from './connection.js';
import { pyJson } from './pyjson.js';
import { parseJson } from '../../serialization/json.js';
import { setLongTimeout } from '../../util/timers.js';

export interface RedisBackendOptions {
  /** Default expiry of stored results in seconds (Celery `result_expires`); 0: never. */
  expires?: number;
  /** With an existing client: close it on close(). Default: only clients we created. */
  owned?: boolean;
  /** How long a command waits for a lost connection (ms). */
  publishTimeoutMs?: number;
  /** With a URL: kombu's `result_backend_transport_options` (`master_name`, `sentinel_kwargs`...). */
  transportOptions?: TransportOptions;
  /** With an existing client: where it points (for errors). */
  where?: { host: string; port: number };
  /** With an existing client: keys hash-tagged by task id (a Redis Cluster). */
  cluster?: boolean;
  /** With an existing client: WAIT for replicas after each store. */
  replicaWait?: ReplicaWait;
}

type Waiter = { resolve: (m: ResultMeta) => void; reject: (err: unknown) => void; timer?: NodeJS.Timeout };

const KEY_PREFIX = 'celery-task-meta-';
const META_ORDER = ['status', 'result', 'traceback', 'children', 'date_done', 'group_id', 'parent_id', 'name', 'args', 'kwargs', 'worker', 'retries', 'queue'];

export function resultKey(taskId: string): string {
  return `${KEY_PREFIX}${taskId}`;
}

/** On a cluster: `celery-task-meta-{<id>}`, the task id as hash tag (results spread over the slots). */
export function clusterResultKey(taskId: string): string {
  return `${KEY_PREFIX}{${taskId}}`;
}

/** Celery's JSON key order: status, result, traceback, children, date_done, extras..., task_id. */
export function encodeResultMeta(meta: ResultMeta): string {
  const m = meta as unknown as Record<string, unknown>;
  const o: Record<string, unknown> = {};
  for (const k of META_ORDER) if (k in m && m[k] !== undefined) o[k] = m[k];
  for (const k of Object.keys(m)) if (!(k in o) && k !== 'task_id' && m[k] !== undefined) o[k] = m[k];
  o.task_id = meta.task_id;
  o.children ??= [];
  return pyJson(o);
}

function parseMeta(raw: string | null): ResultMeta | null {
  if (raw === null) return null;
  try {
    const v = parseJson(raw) as ResultMeta;
    return v && typeof v === 'object' && typeof v.status === 'string' ? v : null;
  } catch {
    return null;
  }
}

/**
 * Celery's Redis result backend: `SETEX celery-task-meta-<id> <expires> <json>` + PUBLISH on the
 * same name. Waiters share one subscriber connection; each subscribes before it reads, so a
 * result stored in between is never missed.
 */
export class RedisBackend implements ResultBackend {
  readonly kind = 'redis';
  readonly client: RedisClient;
  private sub?: RedisClient;
  private readonly key: (taskId: string) => string;
  private readonly replicaWait?: ReplicaWait;
  private readonly owned: boolean;
  private readonly expires: number;
  private readonly timeoutMs: number;
  private readonly where: { host: string; port: number };
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly subscribed = new Map<string, Promise<void>>();
  private toSubscribe: Array<{ channel: string; done: (err?: unknown) => void }> = [];
  private toUnsubscribe = new Set<string>();

  constructor(urlOrClient: string | RedisClient, opts: RedisBackendOptions = {}) {
    let cluster = opts.cluster ?? false;
    this.replicaWait = opts.replicaWait;
    if (typeof urlOrClient === 'string') {
      const info = parseRedisTarget(urlOrClient, opts.transportOptions);
      this.client = quiet(createRedisClient(info, { enableAutoPipelining: true }));
      this.owned = opts.owned ?? true;
      this.where = info;
      cluster = info.mode === 'cluster';
      if (cluster) this.replicaWait = new ReplicaWait(info.waitReplicas, info.waitTimeoutMs);
    } else {
      this.client = urlOrClient;
      this.owned = opts.owned ?? false;
      const o = 'options' in urlOrClient ? urlOrClient.options : undefined;
      this.where = opts.where ?? { host: (o && 'host' in o && o.host) || '127.0.0.1', port: (o && 'port' in o && o.port) || 6379 };
    }
    this.key = cluster ? clusterResultKey : resultKey;
    this.expires = opts.expires ?? DEFAULT_RESULT_EXPIRES;
    this.timeoutMs = opts.publishTimeoutMs ?? 30_000;
  }

  /** A connected backend for `url` (fails fast with a clear ConnectionError when unreachable). */
  static async fromUrl(url: string, opts: RedisBackendOptions = {}): Promise<RedisBackend> {
    const b = new RedisBackend(url, opts);
    await b.connect();
    return b;
  }

  /** Fail fast with a clear ConnectionError when Redis is unreachable (optional: commands connect lazily). */
  async connect(): Promise<void> {
    await connectOnce(this.client, this.where);
  }

  private cmd<T>(p: Promise<T>, what: string): Promise<T> {
    return withTimeout(p, this.timeoutMs, what, this.where);
  }

  async store(meta: ResultMeta, expiresSec?: number): Promise<void> {
    const key = this.key(meta.task_id);
    const value = encodeResultMeta(meta);
    const expires = Math.round(expiresSec ?? this.expires);
    const m = this.client.multi();
    if (expires > 0) m.setex(key, expires, value);
    else m.set(key, value);
    m.publish(key, value);
    await this.cmd(m.exec(), 'store result');
    // Not in the MULTI (WAIT there returns at once) nor in a pipeline (see waitForReplicas).
    if (this.replicaWait?.active) await this.cmd(waitForReplicas(this.client, key, this.replicaWait), 'store result');
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    return parseMeta(await this.cmd(this.client.get(this.key(taskId)), 'get result'));
  }

  async forget(taskId: string): Promise<void> {
    await this.cmd(this.client.del(this.key(taskId)), 'forget result');
  }

  async waitFor(taskId: string, timeoutMs: number | undefined): Promise<ResultMeta> {
    const channel = this.key(taskId);
    return new Promise<ResultMeta>((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      let set = this.waiters.get(channel);
      if (!set) this.waiters.set(channel, (set = new Set()));
      set.add(w);
      const settle = (fn: () => void) => {
        if (!this.removeWaiter(channel, w)) return;
        clearTimeout(w.timer);
        fn();
      };
      w.resolve = (m) => settle(() => resolve(m));
      w.reject = (err) => settle(() => reject(err));
      if (timeoutMs !== undefined) {
        w.timer = setLongTimeout(() => settle(() => reject(new TimeoutError(`task ${taskId} not ready after ${timeoutMs} ms`))), timeoutMs);
      }
      this.subscribe(channel)
        .then(() => this.get(taskId))
        .then(
          (meta) => {
            if (meta && READY_STATES.has(meta.status)) w.resolve(meta);
          },
          (err: unknown) => settle(() => reject(err)),
        );
    });
  }

  private removeWaiter(channel: string, w: Waiter): boolean {
    const set = this.waiters.get(channel);
    if (!set?.delete(w)) return false;
    if (set.size === 0) {
      this.waiters.delete(channel);
      this.subscribed.delete(channel);
      this.toUnsubscribe.add(channel);
      this.scheduleSubscriptions();
    }
    return true;
  }

  private subscriber(): RedisClient {
    if (this.sub) return this.sub;
    const sub = quiet(duplicateClient(this.client, { enableAutoPipelining: false }));
    sub.on('message', (channel: string, raw: string) => {
      const set = this.waiters.get(channel);
      if (!set) return;
      const meta = parseMeta(raw);
      if (!meta || !READY_STATES.has(meta.status)) return;
      for (const w of [...set]) w.resolve(meta);
    });
    return (this.sub = sub);
  }

  /** Batch SUBSCRIBE/UNSUBSCRIBE of one tick into one command each (thousands of waiters). */
  private subscribe(channel: string): Promise<void> {
    this.toUnsubscribe.delete(channel);
    let p = this.subscribed.get(channel);
    if (!p) {
      p = new Promise<void>((resolve, reject) => {
        this.toSubscribe.push({ channel, done: (err) => (err ? reject(err) : resolve()) });
      });
      this.subscribed.set(channel, p);
      this.scheduleSubscriptions();
    }
    return p;
  }

  private scheduled = false;
  private scheduleSubscriptions(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const sub = this.subscriber();
      const unsub = [...this.toUnsubscribe].filter((c) => !this.waiters.has(c));
      this.toUnsubscribe.clear();
      if (unsub.length && sub.status === 'ready') void sub.unsubscribe(...unsub).catch(() => undefined);
      const batch = this.toSubscribe;
      this.toSubscribe = [];
      if (!batch.length) return;
      this.cmd(sub.subscribe(...batch.map((b) => b.channel)), 'subscribe').then(
        () => batch.forEach((b) => b.done()),
        (err: unknown) => batch.forEach((b) => b.done(err)),
      );
    });
  }

  async close(): Promise<void> {
    const closed = new ConnectionError('result backend closed while waiting');
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.reject(closed);
    this.sub?.disconnect();
    if (this.owned) {
      if (this.client.status === 'ready') await this.client.quit().catch(() => undefined);
      this.client.disconnect();
    }
  }
}

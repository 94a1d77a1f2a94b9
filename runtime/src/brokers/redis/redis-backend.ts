import { ConnectionError, TimeoutError } from '../../errors.js';
import { DEFAULT_RESULT_EXPIRES, READY_STATES, type ChordEntry, type ChordJoin, type ChordPart, type ResultBackend, type ResultMeta, type TaskState } from '../../backends/types.js';
import { defineScripts, runScript } from './scripts.js';
import {
  connectOnce,
  createRedisClient,
  duplicateClient,
  parseRedisTarget,
  quiet,
  ReplicaWait,
  waitForReplicas,
  watchConnection,
  withTimeout,
  type RedisClient,
  type TransportOptions,
} from './connection.js';
import { createLogger } from '../../util/log.js';
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
const log = createLogger('sprig.redis-backend');
/** How long a channel without waiters stays subscribed (its UNSUBSCRIBE goes with the others of that time). */
const UNSUBSCRIBE_AFTER_MS = 20;
const META_ORDER = ['status', 'result', 'traceback', 'children', 'date_done', 'group_id', 'parent_id', 'name', 'args', 'kwargs', 'worker', 'retries', 'queue'];

export function resultKey(taskId: string): string {
  return `${KEY_PREFIX}${taskId}`;
}

/** Celery's group keys: `celery-taskset-meta-<id>` (a saved GroupResult) and its chord join's `.j`, `.t`, `.s`. */
export function groupKey(groupId: string, suffix = '', cluster = false): string {
  // On a cluster the group id is the hash tag: a join's keys share one slot (its script needs that).
  return `celery-taskset-meta-${cluster ? `{${groupId}}` : groupId}${suffix}`;
}

/** The keys of a chord join: Celery's three, then Sprig's (part ids counted, who completed it). */
export function chordKeys(groupId: string, cluster = false): string[] {
  return ['.j', '.t', '.s', '.sprig-parts', '.sprig-fired'].map((s) => groupKey(groupId, s, cluster));
}

/**
 * Sprig's marker that a chord's body was sent and its join deleted: a part redelivered after
 * that (acks late, its worker killed) is not counted and writes nothing. It outlives the join by
 * the result expiry (a day when results never expire), longer than any redelivery.
 */
export function chordDoneKey(groupId: string, cluster = false): string {
  return groupKey(groupId, '.sprig-done', cluster);
}

/** How long the done marker stays when results never expire (result_expires = 0). */
const CHORD_DONE_TTL_S = 86_400;

function decodeEntry(raw: string): ChordEntry {
  const v = parseJson(raw) as unknown[];
  return { taskId: String(v[1]), state: String(v[2]) as TaskState, result: v[3] };
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
  /** Keys hash-tagged (a Redis Cluster). */
  private readonly cluster: boolean;
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
  private unsubscribeTimer?: NodeJS.Timeout;
  private closing = false;

  constructor(urlOrClient: string | RedisClient, opts: RedisBackendOptions = {}) {
    let cluster = opts.cluster ?? false;
    this.replicaWait = opts.replicaWait;
    if (typeof urlOrClient === 'string') {
      const info = parseRedisTarget(urlOrClient, opts.transportOptions);
      // Its own server (maybe not the broker's): one line per state change of its connection.
      this.client = watchConnection(createRedisClient(info, { enableAutoPipelining: true }), `result backend ${info.displayUrl}`, log, {
        closing: () => this.closing,
      });
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
    this.cluster = cluster;
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

  /**
   * Celery's native chord join (backends/redis.py on_chord_part_return), in one script: the same
   * keys and entries, so a chord can start on Python workers and finish on Sprig ones; a part's
   * task id counts once, and a part that returns after the body was sent writes nothing
   * (lua/chord-part-6.lua).
   */
  readonly chords: ChordJoin = {
    setSize: async (groupId: string, size: number) => {
      const key = groupKey(groupId, '.s', this.cluster);
      const m = this.client.multi();
      if (this.expires > 0) m.setex(key, this.expires, String(size));
      else m.set(key, String(size));
      m.publish(key, String(size));
      await this.cmd(m.exec(), 'set chord size');
    },
    partReturn: async (p: ChordPart) => {
      if (!this.scripts) this.scripts = defineScripts(this.client);
      const entry = pyJson([1, p.taskId, p.state, p.result]);
      const res = (await this.cmd(runScript(this.client, 'chordPart', [...chordKeys(p.groupId, this.cluster), chordDoneKey(p.groupId, this.cluster)], [entry, p.groupIndex ?? '+inf', p.taskId, Math.max(0, Math.round(this.expires))]), 'count chord part')) as [number, string[]?];
      return res[0] === 1 ? (res[1] ?? []).map(decodeEntry) : null;
    },
    done: async (groupId: string) => {
      const ttl = this.expires > 0 ? Math.max(1, Math.round(this.expires)) : CHORD_DONE_TTL_S;
      // One MULTI: no moment where the join is gone and the marker not yet there.
      const m = this.client.multi().del(...chordKeys(groupId, this.cluster)).setex(chordDoneKey(groupId, this.cluster), ttl, '1');
      await this.cmd(m.exec(), 'clean up chord');
    },
    /** Celery's add_to_chord: INCR `celery-taskset-meta-<gid>.t` (the join script adds it to the size). */
    add: async (groupId: string, n: number) => {
      const key = groupKey(groupId, '.t', this.cluster);
      const m = this.client.multi().incrby(key, n);
      if (this.expires > 0) m.expire(key, this.expires);
      await this.cmd(m.exec(), 'add to chord');
    },
  };
  private scripts?: RedisClient;

  /** GroupResult.save as Celery writes it: `celery-taskset-meta-<id>` = {"result": [[id, null], [...]]}. */
  async saveGroup(groupId: string, tuple: unknown): Promise<void> {
    const key = groupKey(groupId, '', this.cluster);
    const value = pyJson({ result: tuple });
    const m = this.client.multi();
    if (this.expires > 0) m.setex(key, this.expires, value);
    else m.set(key, value);
    await this.cmd(m.exec(), 'save group');
  }

  async restoreGroup(groupId: string): Promise<unknown> {
    const raw = await this.cmd(this.client.get(groupKey(groupId, '', this.cluster)), 'restore group');
    if (raw === null) return null;
    const v = parseJson(raw) as { result?: unknown } | null;
    return v && typeof v === 'object' ? (v.result ?? null) : null;
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    return parseMeta(await this.cmd(this.client.get(this.key(taskId)), 'get result'));
  }

  async forget(taskId: string): Promise<void> {
    await this.cmd(this.client.del(this.key(taskId)), 'forget result');
  }

  /** See ResultBackend.waitsWhileSending: a wait ends when its signal aborts. */
  readonly waitsWhileSending = true;

  async waitFor(taskId: string, timeoutMs: number | undefined, signal?: AbortSignal): Promise<ResultMeta> {
    signal?.throwIfAborted();
    const channel = this.key(taskId);
    return new Promise<ResultMeta>((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      let set = this.waiters.get(channel);
      if (!set) this.waiters.set(channel, (set = new Set()));
      set.add(w);
      const aborted = () => w.reject(signal!.reason);
      const settle = (fn: () => void) => {
        if (!this.removeWaiter(channel, w)) return;
        clearTimeout(w.timer);
        signal?.removeEventListener('abort', aborted);
        fn();
      };
      w.resolve = (m) => settle(() => resolve(m));
      w.reject = (err) => settle(() => reject(err));
      signal?.addEventListener('abort', aborted, { once: true });
      if (timeoutMs !== undefined) {
        w.timer = setLongTimeout(() => settle(() => reject(new TimeoutError(`task ${taskId} not ready after ${timeoutMs} ms`))), timeoutMs);
      }
      this.subscribe(channel)
        // Ended meanwhile (its result came in the same read as the SUBSCRIBE's reply, say): no GET.
        .then(() => (this.waiters.get(channel)?.has(w) ? this.get(taskId) : null))
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
      // Still subscribed until the UNSUBSCRIBE goes out: a new waiter meanwhile needs no SUBSCRIBE.
      this.toUnsubscribe.add(channel);
      this.unsubscribeTimer ??= setTimeout(() => this.unsubscribeIdle(), UNSUBSCRIBE_AFTER_MS).unref();
    }
    return true;
  }

  /**
   * The channels left without waiters, in one UNSUBSCRIBE a little later: not one command per
   * result between a result and the caller's next send (one for many in a loop of calls).
   */
  private unsubscribeIdle(): void {
    this.unsubscribeTimer = undefined;
    const unsub = [...this.toUnsubscribe].filter((c) => !this.waiters.has(c));
    this.toUnsubscribe.clear();
    for (const c of unsub) this.subscribed.delete(c);
    if (unsub.length && this.sub?.status === 'ready') void this.sub.unsubscribe(...unsub).catch(() => undefined);
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

  /** Batch the SUBSCRIBEs of one turn into one command (thousands of waiters). */
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
  /**
   * In the turn's check phase, not a microtask: a send + get() of this turn writes its LPUSH
   * first (on a busy machine each write may hand the CPU to Redis, and the LPUSH is the one the
   * result waits for). A worker can answer only a round trip after that LPUSH, and a result
   * stored before the SUBSCRIBE is read by the GET behind it.
   */
  private scheduleSubscriptions(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const sub = this.subscriber();
      const batch = this.toSubscribe;
      this.toSubscribe = [];
      if (!batch.length) return;
      this.cmd(sub.subscribe(...batch.map((b) => b.channel)), 'subscribe').then(
        () => batch.forEach((b) => b.done()),
        (err: unknown) =>
          batch.forEach((b) => {
            // Not subscribed: the next waiter asks again.
            this.subscribed.delete(b.channel);
            b.done(err);
          }),
      );
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    const closed = new ConnectionError('result backend closed while waiting');
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.reject(closed);
    clearTimeout(this.unsubscribeTimer);
    this.unsubscribeTimer = undefined;
    this.sub?.disconnect();
    if (this.owned) {
      if (this.client.status === 'ready') await this.client.quit().catch(() => undefined);
      this.client.disconnect();
    }
  }
}

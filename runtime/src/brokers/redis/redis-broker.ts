import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { ConnectionError } from '../../errors.js';
import { decodeEnvelope, encodeEnvelope, type TransportMessage } from '../../protocol/message.js';
import { nowSeconds } from '../../protocol/time.js';
import type { SprigEvent } from '../../events/types.js';
import { deadLetterEntry, deadLetterLimits, encodeDeadLetter, takenFromList, type DeadLetterLimits } from '../dead-letter.js';
import { QoS } from '../qos.js';
import type { BrokerOptions } from '../registry.js';
import {
  deadLetterQueueName,
  type Broker,
  type BrokerCapabilities,
  type Consumer,
  type Delivery,
  type DeliveryHandler,
  type BrokerQueueStats,
  type TakenDeadLetter,
} from '../types.js';
import { isInternalQueue } from '../queue-names.js';
import type { ControlRequest } from '../../protocol/control.js';
import { RedisAckBatcher } from './ack-batcher.js';
import { RedisBackend } from './redis-backend.js';
import {
  connectOnce,
  createRedisClient,
  duplicateClient,
  parseRedisTarget,
  quiet,
  ReplicaWait,
  SEND_NOW_OPTIONS,
  sendNow,
  waitForReplicas,
  watchConnection,
  withTimeout,
  type RedisClient,
  type RedisTarget,
} from './connection.js';
import type { ChainableCommander } from 'ioredis';
import { createLogger } from '../../util/log.js';
import { RedisConsumer, type ConsumerHost } from './consumer.js';
import { controlEnvelope, decodeControl, decodeEvents, envelopeBody, eventEnvelope, replyEnvelope } from './envelope.js';
import {
  bindingKey,
  bindingMember,
  CLUSTER_LAYOUT,
  DEFAULT_VISIBILITY_TIMEOUT,
  eventChannel,
  eventPattern,
  KOMBU_LAYOUT,
  pidboxChannel,
  queueKey,
  queueKeys,
  replyBinding,
  replyKey,
  REPLY_EXCHANGE,
  unackedMutexExpireMs,
  type KeyLayout,
} from './keys.js';
import { defineScripts, runScript } from './scripts.js';
import { clusterLeaseStore, redisLeaseStore } from './redis-lease.js';
import type { LeaseStore } from '../lease.js';

const RESTORE_BATCH = 500;
/** Parked ETA messages: swept this often, and moved back this long before they are due. */
const UNPARK_EVERY_MS = 1000;
export const UNPARK_LEAD_MS = 2000;
/** At most this many per script call, and calls per sweep (a backlog that came due while no worker ran). */
const UNPARK_BATCH = 1000;
const UNPARK_CALLS = 20;
const log = createLogger('sprig.redis');
/** How long a pidbox broadcast stays valid for workers (Celery: now + the client's timeout). */
const CONTROL_EXPIRES_SEC = 10;

/**
 * `redis://host:port/db` — kombu's Redis layout, so Python Celery workers and clients share the
 * queues, events, pidbox and results. Differences from kombu, all on the consuming side:
 * fetch+unacked bookkeeping is one Lua script (no loss window between BRPOP and HSET), batches
 * up to the free prefetch slots, and `touch()` keeps long-held (ETA) messages from being restored.
 *
 * Also `sentinel://…;sentinel://…?master_name=x` (kombu's Sentinel form; the same layout, on the
 * master the sentinels name, followed through a failover) and `redis-cluster://h:p,h:p` (Sprig
 * only: every key of a queue hash-tagged `{queue}`, see keys.ts KeyLayout). See
 * docs/high-availability.md.
 */
export class RedisBroker implements Broker, ConsumerHost {
  readonly kind = 'redis' as const;
  readonly displayUrl: string;
  readonly capabilities: BrokerCapabilities;
  readonly client: RedisClient;
  readonly db: number;
  readonly layout: KeyLayout;
  /** Seconds a message may stay unacked before restoreVisible() gives it to another worker. */
  readonly visibilityTimeout: number;
  /**
   * How long `unacked_mutex` lives (ms): kombu's `unacked_mutex_expire` if given, else kombu's 300 s
   * capped at the visibility timeout. A worker killed inside a restore leaves the mutex behind, and
   * until it expires no worker restores anything: the dead worker's messages would come back after
   * 300 s instead of one visibility timeout (the fault suite's stall, visibility_timeout=4). A
   * restore that outlives it is harmless: each tag is moved by one atomic script, at most once.
   */
  readonly unackedMutexExpireMs: number;
  private readonly info: RedisTarget;
  /** Publishes wait for replicas (sentinel://, redis-cluster://): a confirmed task survives a failover. */
  private readonly replicaWait: ReplicaWait;
  private readonly publishTimeoutMs: number;
  private readonly deadLetter: DeadLetterLimits;
  private readonly emitter = new EventEmitter();
  private readonly bound = new Set<string>();
  private readonly consumers = new Set<RedisConsumer>();
  readonly qos = new QoS<RedisConsumer, string>();
  readonly acks: RedisAckBatcher;
  private readonly blocking = new Set<RedisClient>();
  private pendingEvents: Array<{ channel: string; raw: string }> = [];
  private sub?: RedisClient;
  private publisher?: Redis;
  private subReady?: Promise<void>;
  private readonly patternHandlers = new Map<string, Set<(channel: string, raw: string) => void>>();
  private restoreTimer?: NodeJS.Timeout;
  private unparkTimer?: NodeJS.Timeout;
  private unparking = false;
  private clock = 0;
  private isDown = false;
  private closed = false;

  /** `connectionName` (extra to BrokerOptions): CLIENT SETNAME for every connection, for `CLIENT LIST`. */
  constructor(url: string, opts: BrokerOptions & { connectionName?: string } = {}) {
    this.info = parseRedisTarget(url, opts.transportOptions);
    this.layout = this.info.mode === 'cluster' ? CLUSTER_LAYOUT : KOMBU_LAYOUT;
    this.replicaWait = new ReplicaWait(this.info.waitReplicas, this.info.waitTimeoutMs);
    this.displayUrl = this.info.displayUrl;
    this.db = this.info.db;
    const fromUrl = Number(this.info.query.get('visibility_timeout'));
    this.visibilityTimeout = opts.visibilityTimeout ?? (fromUrl > 0 ? fromUrl : DEFAULT_VISIBILITY_TIMEOUT);
    this.unackedMutexExpireMs = unackedMutexExpireMs(url, this.info.query.get('unacked_mutex_expire') ?? opts.transportOptions?.unacked_mutex_expire, this.visibilityTimeout);
    this.publishTimeoutMs = opts.publishTimeoutMs ?? 30_000;
    this.deadLetter = deadLetterLimits(opts.deadLetter);
    this.capabilities = { priorities: 'lower-first', visibilityTimeoutMs: this.visibilityTimeout * 1000 };
    this.client = defineScripts(
      watchConnection(createRedisClient(this.info, opts.connectionName ? { connectionName: opts.connectionName } : {}), this.displayUrl, log, {
        closing: () => this.closed,
        lost: () => {
          this.isDown = true;
          this.emitter.emit('disconnect');
        },
        back: () => {
          this.isDown = false;
          this.emitter.emit('reconnect');
          for (const c of this.consumers) c.resume();
        },
      }),
    );
    this.acks = new RedisAckBatcher(this.client, (p, what) => this.cmd(p, what), this.layout);
  }

  on(event: 'reconnect' | 'disconnect', listener: () => void): void {
    this.emitter.on(event, listener);
  }

  async connect(): Promise<void> {
    await connectOnce(this.client, this.info);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.restoreTimer);
    clearInterval(this.unparkTimer);
    for (const c of this.consumers) await c.cancel();
    this.consumers.clear();
    try {
      this.flushEvents();
      await this.flush();
      // Like kombu's restore_at_shutdown: what we still hold goes back now, not after the timeout.
      const held = this.qos.drain();
      if (held.length && this.client.status === 'ready') {
        for (const [queue, tags] of this.byHash(held.map((h) => ({ tag: h.tag, queue: h.value })))) {
          await runScript(this.client, 'requeue', this.unackedKeys(queue), tags);
        }
      }
    } finally {
      this.closed = true;
      for (const b of this.blocking) b.disconnect();
      this.sub?.disconnect();
      this.publisher?.disconnect();
      if (this.client.status === 'ready') await this.client.quit().catch(() => undefined);
      this.client.disconnect();
    }
  }

  private cmd<T>(p: Promise<T>, what: string): Promise<T> {
    return withTimeout(p, this.publishTimeoutMs, what, this.info);
  }

  /** The unacked hash and its index for `queue` (the same two keys for every queue, but on a cluster). */
  private unackedKeys(queue: string): [string, string] {
    return [this.layout.unacked(queue), this.layout.unackedIndex(queue)];
  }

  /** Tags grouped by unacked hash: one group on kombu's layout, one per queue on a cluster. */
  private byHash(items: ReadonlyArray<{ tag: string; queue: string }>): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const first = new Map<string, string>();
    for (const { tag, queue } of items) {
      const key = this.layout.unacked(queue);
      if (!first.has(key)) first.set(key, queue);
      const q = first.get(key)!;
      if (!out.has(q)) out.set(q, []);
      out.get(q)!.push(tag);
    }
    return out;
  }

  // ---- publishing ----------------------------------------------------------------------------

  /**
   * Publishes made in the same tick go out as one pipeline (no auto-pipelining on this connection:
   * it would delay the worker's fetches and acks by a tick).
   */
  publish(queue: string, message: TransportMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.outgoing.push({ queue, message, resolve, reject });
      if (this.outgoing.length === 1) queueMicrotask(() => this.flushOutgoing());
    });
  }

  private outgoing: Array<{ queue: string; message: TransportMessage; resolve: () => void; reject: (err: unknown) => void }> = [];

  private flushOutgoing(): void {
    const items = this.outgoing;
    this.outgoing = [];
    this.publishBatch(items).then(
      () => {
        for (const i of items) i.resolve();
      },
      (err: unknown) => {
        for (const i of items) i.reject(err);
      },
    );
  }

  async publishBatch(items: ReadonlyArray<{ queue: string; message: TransportMessage }>): Promise<void> {
    if (!items.length) return;
    if (this.layout.cluster) {
      // A cluster pipeline stays within one slot: one per queue, in parallel.
      const byQueue = new Map<string, Array<{ queue: string; message: TransportMessage }>>();
      for (const it of items) {
        if (!byQueue.has(it.queue)) byQueue.set(it.queue, []);
        byQueue.get(it.queue)!.push(it);
      }
      await Promise.all([...byQueue.values()].map((group) => this.publishClusterPipeline(group)));
      return;
    }
    const bind = [...new Set(items.map((i) => i.queue))].filter((q) => !this.bound.has(q));
    // WAIT goes on the connection that wrote (the publisher): it counts that connection's writes.
    const wait = this.replicaWait.active;
    const results = await this.send('publish', (p) => {
      for (const q of bind) p.sadd(bindingKey(q), bindingMember(q));
      for (const { queue, message } of items) p.lpush(queueKey(queue, message.properties.priority), encodeEnvelope(message));
      if (wait) p.wait(this.replicaWait.replicas, this.replicaWait.timeoutMs);
    });
    // Short: asked again, longer, on the publisher (WAIT counts that connection's writes).
    if (wait) await this.replicaWait.settle(results[results.length - 1]?.[1], (ms) => this.cmd(this.publisher!.wait(this.replicaWait.replicas, ms), 'publish'));
    for (const q of bind) this.bound.add(q);
  }

  /**
   * Publishes, broadcasts and replies go on a connection of their own without ioredis' offline queue
   * (connection.ts, sendNow): a failure means "not sent", or says "may still arrive". (A cluster's
   * publishes go on its client, which follows MOVED and keeps an offline queue: a failure there may
   * still arrive.)
   */
  private async send(what: string, build: (p: ChainableCommander) => void): Promise<Array<[Error | null, unknown]>> {
    if (this.closed) throw new ConnectionError(`${what}: the broker connection is closed`);
    if (this.layout.cluster) {
      const p = this.client.pipeline();
      build(p);
      const res = ((await this.cmd(p.exec(), what)) ?? []) as Array<[Error | null, unknown]>;
      const failed = res.find(([err]) => err);
      if (failed?.[0]) throw failed[0];
      return res;
    }
    this.publisher ??= quiet((this.client as Redis).duplicate(SEND_NOW_OPTIONS));
    const results = await sendNow(this.publisher, this.publishTimeoutMs, what, this.info, build);
    const failed = results.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
    return results;
  }

  private async publishClusterPipeline(items: ReadonlyArray<{ queue: string; message: TransportMessage }>): Promise<void> {
    const p = this.client.pipeline();
    for (const { queue, message } of items) {
      const base = this.layout.base(queue);
      if (!this.bound.has(queue)) {
        this.bound.add(queue);
        p.sadd(bindingKey(base), bindingMember(base));
      }
      p.lpush(queueKey(base, message.properties.priority), encodeEnvelope(message));
    }
    const results = await this.cmd(p.exec(), 'publish');
    const failed = results?.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
    if (this.replicaWait.active) await this.cmd(waitForReplicas(this.client, queueKey(this.layout.base(items[0]!.queue)), this.replicaWait), 'publish');
  }

  leases(): LeaseStore {
    // The queues a commit publishes to are in other slots than the lease: recorded to an outbox, then relayed.
    if (this.layout.cluster) return clusterLeaseStore(this.client, (p, what) => this.cmd(p, what), (items) => this.publishBatch(items));
    return redisLeaseStore(this.client as Redis, (p, what) => this.cmd(p, what));
  }

  /** Put raw bytes on a queue (tests: garbage, foreign envelopes). */
  async injectRaw(queue: string, raw: string, priority = 0): Promise<void> {
    await this.send('publish', (p) => p.lpush(queueKey(this.layout.base(queue), priority), raw));
  }

  // ---- consuming -----------------------------------------------------------------------------

  async consume(queues: readonly string[], prefetch: number, onDelivery: DeliveryHandler): Promise<Consumer> {
    const c = new RedisConsumer(this, queues, prefetch, onDelivery);
    this.consumers.add(c);
    if (!this.restoreTimer) {
      await this.restoreVisible().catch(() => 0);
      const every = Math.min((this.visibilityTimeout * 1000) / 2, 60_000);
      this.restoreTimer = setInterval(() => void this.restoreVisible().catch(() => 0), every);
      this.restoreTimer.unref();
    }
    if (!this.unparkTimer) {
      this.unparkTimer = setInterval(() => void this.unparkDue(), UNPARK_EVERY_MS);
      this.unparkTimer.unref();
      void this.unparkDue();
    }
    c.pump();
    return {
      setPrefetch: (n) => c.setPrefetch(n),
      setRefillBatch: (n) => c.setRefillBatch(n),
      setParkBeyond: (ms, parked) => c.setParkBeyond(ms, parked),
      cancel: async () => {
        this.consumers.delete(c);
        await c.cancel();
      },
    };
  }

  newBlockingConnection(): RedisClient {
    // Scripts too: a consumer's first watcher sends its fetch behind its BLMOVE on this connection.
    const conn = defineScripts(quiet(duplicateClient(this.client)));
    this.blocking.add(conn);
    conn.on('end', () => this.blocking.delete(conn));
    return conn;
  }

  /** A held delivery is settled: its consumer may fetch again. */
  private settle(tag: string): void {
    this.qos.settle(tag)?.owner.schedulePump();
  }

  ack(delivery: Delivery): void {
    this.settle(delivery.tag);
    this.acks.add(delivery.tag, delivery.queue);
  }

  flush(): Promise<void> {
    return this.acks.flush();
  }

  async reject(delivery: Delivery, requeue: boolean, reason?: string): Promise<void> {
    this.settle(delivery.tag);
    const keys = this.unackedKeys(delivery.queue);
    if (requeue) {
      await this.cmd(runScript(this.client, 'requeue', keys, [delivery.tag]), 'reject');
      return;
    }
    const entry = encodeDeadLetter(deadLetterEntry(delivery, reason, { limits: this.deadLetter }));
    const dlq = deadLetterQueueName(this.layout.base(delivery.queue));
    await this.cmd(runScript(this.client, 'deadLetter', [...keys, dlq], [delivery.tag, entry, this.deadLetter.maxLength]), 'reject');
  }

  /** Parks asked for in the same tick go in one script call per delay set (a fetch batch parks as one). */
  defer(delivery: Delivery, etaMs: number): Promise<void> {
    this.settle(delivery.tag);
    return new Promise<void>((resolve, reject) => {
      this.parking.push({ delivery, etaMs, resolve, reject });
      if (this.parking.length === 1) queueMicrotask(() => this.flushParking());
    });
  }

  private parking: Array<{ delivery: Delivery; etaMs: number; resolve: () => void; reject: (err: unknown) => void }> = [];

  private flushParking(): void {
    const items = this.parking;
    this.parking = [];
    const bySet = new Map<string, { keys: string[]; args: Array<string | number>; items: typeof items }>();
    for (const it of items) {
      const set = this.layout.delayed(it.delivery.queue);
      let g = bySet.get(set);
      if (!g) bySet.set(set, (g = { keys: [...this.unackedKeys(it.delivery.queue), set], args: [], items: [] }));
      g.args.push(it.delivery.tag, Math.round(it.etaMs));
      g.items.push(it);
    }
    for (const g of bySet.values()) {
      this.cmd(runScript(this.client, 'park', g.keys, g.args), 'defer').then(
        () => g.items.forEach((i) => i.resolve()),
        (err: unknown) => g.items.forEach((i) => i.reject(err)),
      );
    }
  }

  /**
   * Parked ETA messages due within UNPARK_LEAD_MS go back to the front of their queue. Every Sprig
   * worker on the db sweeps (one set on kombu's layout: a worker on any queue brings every queue's
   * back); on a cluster, each worker sweeps its own queues' sets.
   */
  async unparkDue(now = Date.now()): Promise<number> {
    if (this.unparking || this.closed || this.isDown) return 0;
    this.unparking = true;
    let moved = 0;
    try {
      const sets = this.layout.cluster ? [...new Set([...this.consumers].flatMap((c) => c.queues))] : [''];
      for (const q of sets) {
        const keys = [...this.unackedKeys(q), this.layout.delayed(q)];
        for (let i = 0; i < UNPARK_CALLS; i++) {
          const [taken, pushed] = (await this.cmd(runScript(this.client, 'unpark', keys, [now + UNPARK_LEAD_MS, UNPARK_BATCH]), 'unpark')) as [number, number];
          moved += Number(pushed);
          if (Number(taken) < UNPARK_BATCH) break;
        }
      }
    } catch (err) {
      log.warn(`cannot move due ETA messages back to their queues: ${(err as Error).message}`);
    } finally {
      this.unparking = false;
    }
    return moved;
  }

  /** Parked ETA messages on this db (or, on a cluster, of `queue`). */
  async deferredCount(queue = ''): Promise<number> {
    return this.cmd(this.client.zcard(this.layout.delayed(queue)), 'deferred count');
  }

  async touch(deliveries: readonly Delivery[]): Promise<void> {
    if (!deliveries.length) return;
    const now = nowSeconds();
    const byIndex = new Map<string, Array<string | number>>();
    for (const d of deliveries) {
      const key = this.layout.unackedIndex(d.queue);
      if (!byIndex.has(key)) byIndex.set(key, []);
      byIndex.get(key)!.push(now, d.tag);
    }
    await Promise.all([...byIndex].map(([key, args]) => this.cmd(this.client.zadd(key, 'XX', ...args), 'touch')));
  }

  /**
   * kombu `restore_visible`: under `unacked_mutex`, messages fetched more than the visibility
   * timeout ago (and not touched since) go back to the front of their queue. Returns how many.
   */
  async restoreVisible(): Promise<number> {
    if (!this.layout.cluster) return this.restoreVisibleOf('');
    // A cluster keeps unacked per queue: restore each queue this broker consumes.
    const queues = new Set([...this.consumers].flatMap((c) => c.queues));
    let n = 0;
    for (const q of queues) n += await this.restoreVisibleOf(q);
    return n;
  }

  private async restoreVisibleOf(queue: string): Promise<number> {
    const token = randomBytes(16).toString('hex');
    const mutex = this.layout.unackedMutex(queue);
    const got = await this.cmd(this.client.set(mutex, token, 'PX', this.unackedMutexExpireMs, 'NX'), 'restore');
    // A SET re-sent after a failover (it ran on the old master and replicated) answers nil: the
    // mutex is ours all the same, and unreleased it would stop restores for 5 minutes.
    if (got !== 'OK' && (await this.cmd(this.client.get(mutex), 'restore')) !== token) return 0;
    let restored = 0;
    try {
      const ceil = (nowSeconds() - this.visibilityTimeout).toFixed(6);
      for (;;) {
        const r = (await this.cmd(
          runScript(this.client, 'restoreVisible', this.unackedKeys(queue), [ceil, RESTORE_BATCH]),
          'restore',
        )) as [number, number];
        restored += Number(r[1]);
        if (Number(r[0]) < RESTORE_BATCH) break;
      }
    } finally {
      await runScript(this.client, 'releaseMutex', [mutex], [token]).catch(() => 0);
    }
    return restored;
  }

  // ---- queue admin ---------------------------------------------------------------------------

  async purge(queue: string): Promise<number> {
    const keys = queueKeys(this.layout.base(queue));
    const m = this.client.multi();
    for (const k of keys) m.llen(k);
    m.del(...keys);
    const res = await this.cmd(m.exec(), 'purge');
    return (res ?? []).slice(0, keys.length).reduce((n, [, v]) => n + Number(v ?? 0), 0);
  }

  async queueLength(queue: string): Promise<number> {
    const p = this.client.pipeline();
    for (const k of queueKeys(this.layout.base(queue))) p.llen(k);
    const res = await this.cmd(p.exec(), 'queue length');
    return (res ?? []).reduce((n, [, v]) => n + Number(v ?? 0), 0);
  }

  async deadLetterLength(queue: string): Promise<number> {
    return this.cmd(this.client.llen(deadLetterQueueName(this.layout.base(queue))), 'dead-letter length');
  }

  /** kombu's bindings name every queue a client published to (a cluster's keys are spread over nodes: none). */
  async listQueues(): Promise<string[]> {
    if (this.layout.cluster) return [];
    const prefix = bindingKey('');
    const names = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await this.cmd(this.client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000), 'list queues');
      cursor = next;
      for (const k of keys) names.add(k.slice(prefix.length));
    } while (cursor !== '0');
    return [...names].filter((q) => !isInternalQueue(q)).sort();
  }

  async queueStats(queue: string): Promise<BrokerQueueStats> {
    const [waiting, deadLetter, reserved] = await Promise.all([this.queueLength(queue), this.deadLetterLength(queue), this.reservedIn(queue)]);
    return { waiting, deadLetter, reserved };
  }

  /** Unacked entries of `queue` (kombu's one hash holds every queue's: each entry ends with its routing key). */
  private async reservedIn(queue: string): Promise<number | undefined> {
    const key = this.layout.unacked(queue);
    if (this.layout.cluster) return this.cmd(this.client.hlen(key), 'queue stats');
    if ((await this.cmd(this.client.hlen(key), 'queue stats')) > MAX_UNACKED_SCAN) return undefined;
    let n = 0;
    for (const v of await this.cmd(this.client.hvals(key), 'queue stats')) if (unackedRoutingKey(v) === queue) n++;
    return n;
  }

  async moveDeadLetter(queue: string, decide: (t: TakenDeadLetter) => 'requeue' | 'keep'): Promise<TakenDeadLetter | undefined> {
    const base = this.layout.base(queue);
    const dlq = deadLetterQueueName(base);
    // The oldest (right) to the newest end (left) in one step: kept, it is already where it goes.
    const stored = await this.cmd(this.client.lmove(dlq, dlq, 'RIGHT', 'LEFT'), 'requeue');
    if (stored === null) return undefined;
    const taken = takenFromList(stored, decodeEnvelope);
    if (decide(taken) === 'requeue') {
      const m = this.client.multi();
      m.lpush(queueKey(base, taken.message?.properties.priority), taken.entry.raw);
      m.sadd(bindingKey(base), bindingMember(base));
      m.lrem(dlq, 1, stored);
      await this.cmd(m.exec(), 'requeue');
    }
    return taken;
  }

  // ---- events --------------------------------------------------------------------------------

  publishEvent(event: SprigEvent): void {
    if (this.closed || this.isDown) return; // best effort, like Celery's event dispatcher
    const { routingKey, raw } = eventEnvelope(event);
    this.pendingEvents.push({ channel: eventChannel(this.db, routingKey), raw });
    if (this.pendingEvents.length === 1) queueMicrotask(() => this.flushEvents());
  }

  private flushEvents(): void {
    const batch = this.pendingEvents;
    if (!batch.length) return;
    this.pendingEvents = [];
    const p = this.client.pipeline();
    for (const e of batch) p.publish(e.channel, e.raw);
    void p.exec().catch(() => undefined);
  }

  private async psubscribe(pattern: string, fn: (channel: string, raw: string) => void): Promise<() => Promise<void>> {
    if (!this.sub) {
      const sub = quiet(duplicateClient(this.client));
      this.sub = sub;
      sub.on('pmessage', (pat: string, channel: string, raw: string) => {
        for (const h of this.patternHandlers.get(pat) ?? []) h(channel, raw);
      });
      // A failed first connect is not kept: the next subscribe tries again on a new connection.
      const ready = connectOnce(sub, this.info);
      this.subReady = ready;
      ready.catch(() => {
        if (this.subReady !== ready) return;
        this.sub = undefined;
        this.subReady = undefined;
        sub.disconnect();
      });
    }
    await this.subReady;
    if (!this.sub) throw new ConnectionError('subscribe: the broker connection is closed');
    let set = this.patternHandlers.get(pattern);
    if (!set) {
      this.patternHandlers.set(pattern, (set = new Set()));
      await this.cmd(this.sub.psubscribe(pattern), 'subscribe');
    }
    set.add(fn);
    return async () => {
      set.delete(fn);
      if (set.size === 0 && this.patternHandlers.get(pattern) === set) {
        this.patternHandlers.delete(pattern);
        if (this.sub?.status === 'ready') await this.sub.punsubscribe(pattern).catch(() => undefined);
      }
    };
  }

  async subscribeEvents(handler: (event: SprigEvent) => void): Promise<() => Promise<void>> {
    return this.psubscribe(eventPattern(this.db), (_channel, raw) => {
      const received = nowSeconds();
      for (const ev of decodeEvents(raw)) handler({ ...ev, local_received: ev.local_received ?? received });
    });
  }

  createBackend(): RedisBackend {
    // quiet(): the broker's own connection reports the state of this server, once.
    return new RedisBackend(quiet(duplicateClient(this.client, { enableAutoPipelining: true })), {
      owned: true,
      publishTimeoutMs: this.publishTimeoutMs,
      where: this.info,
      cluster: this.layout.cluster,
      // On a cluster a result and its task's ack are on different masters: the result must be on a replica first.
      replicaWait: this.layout.cluster ? new ReplicaWait(this.info.waitReplicas, this.info.waitTimeoutMs) : undefined,
    });
  }

  // ---- remote control (pidbox) ---------------------------------------------------------------

  async broadcast(request: ControlRequest): Promise<void> {
    const raw = controlEnvelope(request, ++this.clock, nowSeconds() + CONTROL_EXPIRES_SEC);
    const r = request.reply_to;
    // kombu (Python workers) routes replies through this binding; without it they are dropped.
    const binding = r ? ([bindingKey(r.exchange || REPLY_EXCHANGE), replyBinding(r.routing_key)] as const) : undefined;
    if (this.layout.cluster) {
      // Separate commands: a cluster pipeline that mixes a keyed write with PUBLISH cannot follow a MOVED.
      if (binding) await this.cmd(this.client.sadd(...binding), 'broadcast');
      await this.cmd(this.client.publish(pidboxChannel(this.db), raw), 'broadcast');
      return;
    }
    await this.send('broadcast', (p) => {
      if (binding) p.sadd(...binding);
      p.publish(pidboxChannel(this.db), raw);
    });
  }

  async subscribeControl(handler: (request: ControlRequest) => void): Promise<() => Promise<void>> {
    return this.psubscribe(pidboxChannel(this.db), (_channel, raw) => {
      const req = decodeControl(raw);
      if (req) handler(req);
    });
  }

  async reply(replyTo: { exchange: string; routing_key: string }, ticket: string, body: unknown): Promise<void> {
    const raw = replyEnvelope(replyTo.routing_key, replyTo.exchange, ticket, ++this.clock, body);
    await this.send('reply', (p) => p.lpush(replyKey(replyTo.routing_key), raw));
  }

  async collectReplies(replyTo: string, timeoutMs: number, expected?: number): Promise<unknown[]> {
    const key = replyKey(replyTo);
    const conn = this.newBlockingConnection();
    const out: unknown[] = [];
    const deadline = Date.now() + timeoutMs;
    try {
      while (expected === undefined || out.length < expected) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        const got = await conn.brpop(key, Math.max(0.01, left / 1000).toFixed(3));
        if (!got) break;
        const decoded = envelopeBody(got[1]);
        if (decoded) out.push(decoded.body);
      }
      // Two commands, not a pipeline: on a cluster the two keys are in different slots.
      await Promise.all([this.client.del(key), this.client.srem(bindingKey(REPLY_EXCHANGE), replyBinding(replyTo))]).catch(() => undefined);
    } finally {
      conn.disconnect();
    }
    return out;
  }
}

/** Above this many unacked entries, counting a queue's is not worth reading them all. */
const MAX_UNACKED_SCAN = 100_000;

/** The routing key at the end of an unacked entry (`[envelope, exchange, routing_key]`). */
function unackedRoutingKey(v: string): string | undefined {
  const m = /,\s*("(?:[^"\\]|\\.)*")\s*\]$/.exec(v);
  try {
    return m ? (JSON.parse(m[1]!) as string) : undefined;
  } catch {
    return undefined;
  }
}


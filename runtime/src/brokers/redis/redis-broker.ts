import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { ConnectionError } from '../../errors.js';
import { encodeEnvelope, type TransportMessage } from '../../protocol/message.js';
import { nowSeconds } from '../../protocol/time.js';
import type { SprigEvent } from '../../events/types.js';
import { deadLetterEntry, deadLetterLimits, encodeDeadLetter, type DeadLetterLimits } from '../dead-letter.js';
import { QoS } from '../qos.js';
import type { BrokerOptions } from '../registry.js';
import {
  deadLetterQueueName,
  type Broker,
  type BrokerCapabilities,
  type Consumer,
  type Delivery,
  type DeliveryHandler,
} from '../types.js';
import type { ControlRequest } from '../../protocol/control.js';
import { RedisAckBatcher } from './ack-batcher.js';
import { RedisBackend } from './redis-backend.js';
import { baseOptions, connectOnce, parseRedisUrl, quiet, SEND_NOW_OPTIONS, sendNow, watchConnection, withTimeout, type RedisUrlInfo } from './connection.js';
import type { ChainableCommander } from 'ioredis';
import { createLogger } from '../../util/log.js';
import { RedisConsumer, type ConsumerHost } from './consumer.js';
import { controlEnvelope, decodeControl, decodeEvents, envelopeBody, eventEnvelope, replyEnvelope } from './envelope.js';
import {
  bindingKey,
  bindingMember,
  DEFAULT_VISIBILITY_TIMEOUT,
  eventChannel,
  eventPattern,
  pidboxChannel,
  queueKey,
  queueKeys,
  replyBinding,
  replyKey,
  REPLY_EXCHANGE,
  UNACKED_INDEX_KEY,
  UNACKED_KEY,
  UNACKED_MUTEX_EXPIRE_MS,
  UNACKED_MUTEX_KEY,
} from './keys.js';
import { defineScripts, runScript } from './scripts.js';
import { redisLeaseStore } from './redis-lease.js';
import type { LeaseStore } from '../lease.js';

const RESTORE_BATCH = 500;
const log = createLogger('sprig.redis');
/** How long a pidbox broadcast stays valid for workers (Celery: now + the client's timeout). */
const CONTROL_EXPIRES_SEC = 10;

/**
 * `redis://host:port/db` — kombu's Redis layout, so Python Celery workers and clients share the
 * queues, events, pidbox and results. Differences from kombu, all on the consuming side:
 * fetch+unacked bookkeeping is one Lua script (no loss window between BRPOP and HSET), batches
 * up to the free prefetch slots, and `touch()` keeps long-held (ETA) messages from being restored.
 */
export class RedisBroker implements Broker, ConsumerHost {
  readonly kind = 'redis' as const;
  readonly displayUrl: string;
  readonly capabilities: BrokerCapabilities;
  readonly client: Redis;
  readonly db: number;
  /** Seconds a message may stay unacked before restoreVisible() gives it to another worker. */
  readonly visibilityTimeout: number;
  private readonly info: RedisUrlInfo;
  private readonly publishTimeoutMs: number;
  private readonly deadLetter: DeadLetterLimits;
  private readonly emitter = new EventEmitter();
  private readonly bound = new Set<string>();
  private readonly consumers = new Set<RedisConsumer>();
  readonly qos = new QoS<RedisConsumer>();
  readonly acks: RedisAckBatcher;
  private readonly blocking = new Set<Redis>();
  private pendingEvents: Array<{ channel: string; raw: string }> = [];
  private sub?: Redis;
  private publisher?: Redis;
  private subReady?: Promise<void>;
  private readonly patternHandlers = new Map<string, Set<(channel: string, raw: string) => void>>();
  private restoreTimer?: NodeJS.Timeout;
  private clock = 0;
  private isDown = false;
  private closed = false;

  /** `connectionName` (extra to BrokerOptions): CLIENT SETNAME for every connection, for `CLIENT LIST`. */
  constructor(url: string, opts: BrokerOptions & { connectionName?: string } = {}) {
    this.info = parseRedisUrl(url);
    this.displayUrl = this.info.displayUrl;
    this.db = this.info.db;
    const fromUrl = Number(this.info.query.get('visibility_timeout'));
    this.visibilityTimeout = opts.visibilityTimeout ?? (fromUrl > 0 ? fromUrl : DEFAULT_VISIBILITY_TIMEOUT);
    this.publishTimeoutMs = opts.publishTimeoutMs ?? 30_000;
    this.deadLetter = deadLetterLimits(opts.deadLetter);
    this.capabilities = { priorities: 'lower-first', visibilityTimeoutMs: this.visibilityTimeout * 1000 };
    this.client = defineScripts(
      watchConnection(new Redis(baseOptions(this.info, opts.connectionName ? { connectionName: opts.connectionName } : {})), this.displayUrl, log, {
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
    this.acks = new RedisAckBatcher(this.client, (p, what) => this.cmd(p, what));
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
    for (const c of this.consumers) await c.cancel();
    this.consumers.clear();
    try {
      this.flushEvents();
      await this.flush();
      // Like kombu's restore_at_shutdown: what we still hold goes back now, not after the timeout.
      const tags = this.qos.drain().map((h) => h.tag);
      if (tags.length && this.client.status === 'ready') await runScript(this.client, 'requeue', [UNACKED_KEY, UNACKED_INDEX_KEY], tags);
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
    const bind = [...new Set(items.map((i) => i.queue))].filter((q) => !this.bound.has(q));
    await this.send('publish', (p) => {
      for (const q of bind) p.sadd(bindingKey(q), bindingMember(q));
      for (const { queue, message } of items) p.lpush(queueKey(queue, message.properties.priority), encodeEnvelope(message));
    });
    for (const q of bind) this.bound.add(q);
  }

  /**
   * Publishes, broadcasts and replies go on a connection of their own without ioredis' offline queue
   * (connection.ts, sendNow): a failure means "not sent", or says "may still arrive".
   */
  private async send(what: string, build: (p: ChainableCommander) => void): Promise<void> {
    if (this.closed) throw new ConnectionError(`${what}: the broker connection is closed`);
    this.publisher ??= quiet(this.client.duplicate(SEND_NOW_OPTIONS));
    const results = await sendNow(this.publisher, this.publishTimeoutMs, what, this.info, build);
    const failed = results.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }

  leases(): LeaseStore {
    return redisLeaseStore(this.client, (p, what) => this.cmd(p, what));
  }

  /** Put raw bytes on a queue (tests: garbage, foreign envelopes). */
  async injectRaw(queue: string, raw: string, priority = 0): Promise<void> {
    await this.send('publish', (p) => p.lpush(queueKey(queue, priority), raw));
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
    c.pump();
    return {
      setPrefetch: (n) => c.setPrefetch(n),
      setRefillBatch: (n) => c.setRefillBatch(n),
      cancel: async () => {
        this.consumers.delete(c);
        await c.cancel();
      },
    };
  }

  newBlockingConnection(): Redis {
    const conn = quiet(this.client.duplicate());
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
    this.acks.add(delivery.tag);
  }

  flush(): Promise<void> {
    return this.acks.flush();
  }

  async reject(delivery: Delivery, requeue: boolean, reason?: string): Promise<void> {
    this.settle(delivery.tag);
    const keys = [UNACKED_KEY, UNACKED_INDEX_KEY];
    if (requeue) {
      await this.cmd(runScript(this.client, 'requeue', keys, [delivery.tag]), 'reject');
      return;
    }
    const entry = encodeDeadLetter(deadLetterEntry(delivery, reason, { limits: this.deadLetter }));
    const dlq = deadLetterQueueName(delivery.queue);
    await this.cmd(runScript(this.client, 'deadLetter', [...keys, dlq], [delivery.tag, entry, this.deadLetter.maxLength]), 'reject');
  }

  async touch(deliveries: readonly Delivery[]): Promise<void> {
    if (!deliveries.length) return;
    const now = nowSeconds();
    const args: Array<string | number> = [];
    for (const d of deliveries) args.push(now, d.tag);
    await this.cmd(this.client.zadd(UNACKED_INDEX_KEY, 'XX', ...args), 'touch');
  }

  /**
   * kombu `restore_visible`: under `unacked_mutex`, messages fetched more than the visibility
   * timeout ago (and not touched since) go back to the front of their queue. Returns how many.
   */
  async restoreVisible(): Promise<number> {
    const token = randomBytes(16).toString('hex');
    const got = await this.cmd(this.client.set(UNACKED_MUTEX_KEY, token, 'PX', UNACKED_MUTEX_EXPIRE_MS, 'NX'), 'restore');
    if (got !== 'OK') return 0;
    let restored = 0;
    try {
      const ceil = (nowSeconds() - this.visibilityTimeout).toFixed(6);
      for (;;) {
        const r = (await this.cmd(
          runScript(this.client, 'restoreVisible', [UNACKED_KEY, UNACKED_INDEX_KEY], [ceil, RESTORE_BATCH]),
          'restore',
        )) as [number, number];
        restored += Number(r[1]);
        if (Number(r[0]) < RESTORE_BATCH) break;
      }
    } finally {
      await runScript(this.client, 'releaseMutex', [UNACKED_MUTEX_KEY], [token]).catch(() => 0);
    }
    return restored;
  }

  // ---- queue admin ---------------------------------------------------------------------------

  async purge(queue: string): Promise<number> {
    const keys = queueKeys(queue);
    const m = this.client.multi();
    for (const k of keys) m.llen(k);
    m.del(...keys);
    const res = await this.cmd(m.exec(), 'purge');
    return (res ?? []).slice(0, keys.length).reduce((n, [, v]) => n + Number(v ?? 0), 0);
  }

  async queueLength(queue: string): Promise<number> {
    const p = this.client.pipeline();
    for (const k of queueKeys(queue)) p.llen(k);
    const res = await this.cmd(p.exec(), 'queue length');
    return (res ?? []).reduce((n, [, v]) => n + Number(v ?? 0), 0);
  }

  async deadLetterLength(queue: string): Promise<number> {
    return this.cmd(this.client.llen(deadLetterQueueName(queue)), 'dead-letter length');
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
      const sub = quiet(this.client.duplicate());
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
    return new RedisBackend(quiet(this.client.duplicate({ enableAutoPipelining: true })), { owned: true, publishTimeoutMs: this.publishTimeoutMs });
  }

  // ---- remote control (pidbox) ---------------------------------------------------------------

  async broadcast(request: ControlRequest): Promise<void> {
    const raw = controlEnvelope(request, ++this.clock, nowSeconds() + CONTROL_EXPIRES_SEC);
    const r = request.reply_to;
    await this.send('broadcast', (p) => {
      // kombu (Python workers) routes replies through this binding; without it they are dropped.
      if (r) p.sadd(bindingKey(r.exchange || REPLY_EXCHANGE), replyBinding(r.routing_key));
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
      await this.client
        .pipeline()
        .del(key)
        .srem(bindingKey(REPLY_EXCHANGE), replyBinding(replyTo))
        .exec()
        .catch(() => undefined);
    } finally {
      conn.disconnect();
    }
    return out;
  }
}

import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { decodeEnvelope, type TransportMessage } from '../../protocol/message.js';
import { isSprigEvent, type SprigEvent } from '../../events/types.js';
import { controlBody, parseControl } from '../../protocol/control.js';
import { ConnectionError } from '../../errors.js';
import { PostgresBackend } from './postgres-backend.js';
import { deadLetterEntry, deadLetterLimits, encodeDeadLetter, takenFromList, type DeadLetterLimits } from '../dead-letter.js';
import { isInternalQueue } from '../queue-names.js';
import { QoS } from '../qos.js';
import type { BrokerOptions } from '../registry.js';
import {
  deadLetterQueueName,
  type Broker,
  type BrokerCapabilities,
  type Consumer,
  type ControlRequest,
  type Delivery,
  type DeliveryHandler,
  type TransactionClient,
  type BrokerQueueStats,
  type TakenDeadLetter,
} from '../types.js';
import { channels, ident, isConnectionError, newPool, parsePostgresUrl, retryQuery, type PostgresUrlInfo } from './connection.js';
import { PostgresConsumer, type FetchedRow, type PostgresConsumerHost } from './consumer.js';
import { PostgresListener } from './listener.js';
import { migrate } from './migrations.js';
import { Notifier } from './notify.js';
import { insertMessages } from './publish.js';
import { fetchSql, nextVisibleSql } from './statements.js';
import { postgresLeaseStore } from './postgres-lease.js';
import type { LeaseStore } from '../lease.js';
import { parseJson, stringifyJson } from '../../serialization/json.js';

/**
 * sendMany hands over batches of this many, building the next while the last is inserted (INSERTs
 * in parallel on the pool): measured ~1.25x on bulk x1000 against one INSERT (bench, 2 cores).
 */
const PUBLISH_CHUNK = 500;

/** A named prepared statement the server does not have (or has under our name already): a transaction-mode pooler. */
const PREPARED_MISMATCH = new Set(['26000', '42P05']);

interface HeldValue {
  id: string;
  lease: string;
  epoch: number;
}

/**
 * `postgres://user@host:port/db?schema=sprig` — messages in a table of their own schema, fetched
 * in batches with `FOR UPDATE SKIP LOCKED` under a lease, consumers woken by LISTEN/NOTIFY.
 *
 * Lease and fencing (the rule): a fetched message carries its holder's id and a fresh lease token.
 * It goes to another worker only when BOTH its lease has run out (the holder stopped extending it)
 * AND its holder's session is gone (the holder's advisory lock is released). A live worker that
 * stalls past its lease keeps its messages, so a task never runs twice while its first run is alive;
 * a worker that dies (kill -9) loses them once the lease runs out. Acks, rejects and lease
 * extensions name the token: a late one from an older delivery changes nothing.
 */
export class PostgresBroker implements Broker, PostgresConsumerHost {
  readonly kind = 'postgres' as const;
  readonly displayUrl: string;
  readonly capabilities: BrokerCapabilities;
  readonly info: PostgresUrlInfo;
  readonly pool: pg.Pool;
  readonly pollMs: number;
  private readonly s: string;
  private readonly ch: ReturnType<typeof channels>;
  private readonly listener: PostgresListener;
  private readonly emitter = new EventEmitter();
  readonly qos = new QoS<PostgresConsumer, HeldValue>();
  private readonly consumers = new Set<PostgresConsumer>();
  private readonly publishTimeoutMs: number;
  private readonly deadLetter: DeadLetterLimits;
  private pendingAcks: HeldValue[] = [];
  private ackFlight: Promise<void> = Promise.resolve();
  private ackQueued = false;
  /** The batch of the DELETE in flight. */
  private acking: readonly HeldValue[] = [];
  private pendingEvents: string[] = [];
  private readonly notifier: Notifier;
  private prepared: boolean;
  private readonly statementNames = new Map<string, string>();
  private outgoing: Array<{ queue: string; message: TransportMessage; resolve: () => void; reject: (err: unknown) => void }> = [];
  private readonly eventHandlers = new Set<(e: SprigEvent) => void>();
  private readonly controlHandlers = new Set<(r: ControlRequest) => void>();
  private readonly replyWaiters = new Map<string, Set<() => void>>();
  private connected?: Promise<void>;
  private sweepTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(url: string, opts: BrokerOptions = {}) {
    this.info = parsePostgresUrl(url, opts.visibilityTimeout);
    this.displayUrl = this.info.displayUrl;
    this.pollMs = this.info.pollMs;
    this.publishTimeoutMs = opts.publishTimeoutMs ?? 30_000;
    this.deadLetter = deadLetterLimits(opts.deadLetter);
    this.capabilities = { priorities: 'higher-first', visibilityTimeoutMs: this.info.leaseMs, publishChunk: PUBLISH_CHUNK };
    this.pool = newPool(this.info);
    this.s = ident(this.info.schema);
    this.ch = channels(this.info.schema);
    this.prepared = this.info.prepared;
    // Not retried: events are best effort (dropped while the server is away, as before); a broadcast retries as a whole.
    this.notifier = new Notifier(this.info.schema, (text, values) => this.pool.query(text, values));
    this.listener = new PostgresListener(this.info, [this.ch.messages, this.ch.events, this.ch.pidbox, this.ch.replies], (channel, payload) =>
      this.q('SELECT pg_notify($1, $2)', [channel, payload], 'probe notify'),
    );
    this.listener.on('notification', (channel: string, payload: string) => {
      if (channel === this.ch.events || channel === this.ch.pidbox) this.notifier.receive(channel, payload, (c, p) => this.onNotification(c, p));
      else this.onNotification(channel, payload);
    });
    this.listener.on('disconnect', () => {
      // The holder lock is gone: what we hold may go to another worker once its lease runs out.
      // Free the prefetch slots; the worker starts none of these (isStale), running ones still ack by token.
      this.qos.drain();
      this.emitter.emit('disconnect');
    });
    this.listener.on('reconnect', () => {
      this.emitter.emit('reconnect');
      for (const c of this.consumers) c.pump();
    });
  }

  on(event: 'reconnect' | 'disconnect', listener: () => void): void {
    this.emitter.on(event, listener);
  }

  connect(): Promise<void> {
    return (this.connected ??= (async () => {
      try {
        if (this.info.migrate) await migrate(this.pool, this.info.schema);
        else await this.pool.query('SELECT 1');
      } catch (err) {
        this.connected = undefined;
        if (isConnectionError(err)) throw new ConnectionError(`cannot connect to PostgreSQL at ${this.displayUrl}: ${(err as Error).message}`, { cause: err });
        throw err;
      }
    })());
  }

  /** The holder session, started on first use (a client that only publishes never opens it). */
  private async listening(): Promise<void> {
    await this.connect();
    await this.listener.start();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.sweepTimer);
    for (const c of this.consumers) await c.cancel();
    this.consumers.clear();
    try {
      this.flushEvents();
      await this.flush();
      await this.notifier.idle();
      // What we still hold goes back now, not after the lease.
      const held = this.qos.drain().map((h) => h.value);
      if (held.length) await this.requeueHeld(held).catch(() => undefined);
    } finally {
      this.closed = true;
      await this.listener.close();
      await this.pool.end().catch(() => undefined);
    }
  }

  /**
   * A query on the pool; a lost connection is retried with backoff until `publishTimeoutMs` (pg
   * reconnects per query). `prepared`: a named prepared statement (hot paths: measured ~1.3-1.7x
   * on batch inserts and fetch+ack, bench/pg-clients.ts). Its name carries a hash of its text, so
   * on a server connection shared through a pooler a name never means another schema's statement;
   * a pooler that loses them (PgBouncer < 1.21 in transaction mode: "prepared statement does not
   * exist") turns them off for this broker, as `prepared=false` does.
   */
  private async q<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[], what: string, prepared?: string): Promise<pg.QueryResult<R>> {
    const run = (named: boolean) => {
      const config = named && prepared ? { name: this.statementName(prepared, text), text, values } : { text, values };
      return retryQuery(() => this.pool.query<R>(config), this.publishTimeoutMs, () => this.closed, `${what} (${this.displayUrl})`);
    };
    if (!prepared || !this.prepared) return run(false);
    try {
      return await run(true);
    } catch (err) {
      if (!PREPARED_MISMATCH.has((err as { code?: string }).code ?? '')) throw err;
      this.prepared = false;
      return run(false);
    }
  }

  private statementName(key: string, text: string): string {
    let name = this.statementNames.get(text);
    if (!name) {
      let h = 0x811c9dc5;
      for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
      this.statementNames.set(text, (name = `sprig_${key}_${(h >>> 0).toString(36)}`));
    }
    return name;
  }

  // ---- publishing ----------------------------------------------------------------------------

  /** Publishes of one tick go out as one INSERT. */
  publish(queue: string, message: TransportMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.outgoing.push({ queue, message, resolve, reject });
      if (this.outgoing.length === 1) queueMicrotask(() => this.flushOutgoing());
    });
  }

  private flushOutgoing(): void {
    const items = this.outgoing;
    this.outgoing = [];
    this.publishBatch(items).then(
      () => items.forEach((i) => i.resolve()),
      (err: unknown) => items.forEach((i) => i.reject(err)),
    );
  }

  async publishBatch(items: ReadonlyArray<{ queue: string; message: TransportMessage }>): Promise<void> {
    if (!items.length) return;
    await this.connect();
    const st = insertMessages(this.info.schema, items);
    await this.q(st.text, st.values, 'publish', st.key);
  }

  async publishInTransaction(tx: TransactionClient, items: ReadonlyArray<{ queue: string; message: TransportMessage }>): Promise<void> {
    if (!items.length) return;
    await this.connect();
    const { text, values } = insertMessages(this.info.schema, items);
    await ('unsafe' in tx ? tx.unsafe(text, values) : tx.query(text, values));
  }

  leases(): LeaseStore {
    return postgresLeaseStore(this.pool, this.info.schema, () => this.connect());
  }

  /** Put raw bytes on a queue (tests: garbage, foreign envelopes). */
  async injectRaw(queue: string, raw: string, priority = 0): Promise<void> {
    await this.q(`INSERT INTO ${this.s}.messages (queue, priority, body) VALUES ($1, $2, $3)`, [queue, priority, raw], 'publish');
  }

  // ---- consuming -----------------------------------------------------------------------------

  async consume(queues: readonly string[], prefetch: number, onDelivery: DeliveryHandler): Promise<Consumer> {
    await this.listening();
    const c = new PostgresConsumer(this, queues, prefetch, onDelivery);
    this.consumers.add(c);
    if (!this.sweepTimer) {
      this.sweepTimer = setInterval(() => void this.sweepOrphans().catch(() => undefined), this.info.leaseMs);
      this.sweepTimer.unref();
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

  async fetch(queues: readonly string[], n: number): Promise<FetchedRow[]> {
    if (!this.listener.up) return [];
    const holder = this.listener.holder;
    const r = await this.q<FetchedRow>(
      fetchSql(this.info.schema),
      [queues, n, holder, this.info.leaseMs],
      'fetch',
      'fetch',
    );
    // The holder session was lost while we fetched: these rows name a dead holder and will be redelivered.
    if (this.listener.holder !== holder) return [];
    return r.rows;
  }

  async nextVisibleIn(queues: readonly string[]): Promise<number | undefined> {
    const r = await this.q<{ ms: number | null }>(
      nextVisibleSql(this.info.schema),
      [queues],
      'next visible',
      'next_visible',
    );
    const ms = r.rows[0]?.ms;
    return ms === null || ms === undefined ? undefined : Number(ms);
  }

  hold(consumer: PostgresConsumer, delivery: Delivery, row: FetchedRow): void {
    this.qos.hold(consumer, delivery.tag, { id: row.id, lease: row.lease, epoch: this.listener.epoch });
  }

  /** Settled: its consumer may fetch again. */
  private settle(tag: string): HeldValue | undefined {
    const h = this.qos.settle(tag);
    h?.owner.schedulePump();
    return h?.value ?? parseTag(tag);
  }

  /** Not held any more (drained when the holder session was lost), or fetched under an older session. */
  isStale(delivery: Delivery): boolean {
    const h = this.qos.get(delivery.tag);
    return !h || h.value.epoch !== this.listener.epoch;
  }

  /**
   * A fetch whose reply was lost to a dropped pool connection may have leased rows to this live
   * holder without our knowing: nobody else may take them while we live. Once their lease has run
   * out, rows of our holder that we do not hold go back.
   */
  private async sweepOrphans(): Promise<void> {
    if (!this.listener.up) return;
    // Settled rows whose DELETE is pending or in flight are ours too: not orphans.
    const held = [...[...this.qos.values()].map((h) => h.value), ...this.pendingAcks, ...this.acking].map((v) => v.lease);
    await this.q(
      `UPDATE ${this.s}.messages SET holder = NULL, lease = NULL, visible_at = now()
       WHERE holder = $1 AND visible_at < now() AND NOT (lease = ANY($2::uuid[]))`,
      [this.listener.holder, held],
      'sweep',
    );
  }

  ack(delivery: Delivery): void {
    const v = this.settle(delivery.tag);
    if (!v) return;
    this.pendingAcks.push(v);
    this.scheduleAcks();
  }

  /**
   * At most one DELETE in flight and one queued behind it, which takes every ack pending when it
   * starts. (A DELETE per microtask, chained, let acks pile up behind slow round trips on a busy
   * server: settled rows, no longer extended, outlived their lease and were swept back while their
   * DELETE waited, and ran again.)
   */
  private scheduleAcks(): Promise<void> {
    if (this.ackQueued) return this.ackFlight;
    this.ackQueued = true;
    const run = async () => {
      this.ackQueued = false;
      const batch = this.pendingAcks;
      this.pendingAcks = [];
      if (!batch.length) return;
      this.acking = batch;
      try {
        await this.deleteAcked(batch);
      } finally {
        this.acking = [];
      }
    };
    this.ackFlight = this.ackFlight.then(run, run);
    return this.ackFlight;
  }

  private async deleteAcked(batch: readonly HeldValue[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.q(
          `DELETE FROM ${this.s}.messages m USING unnest($1::bigint[], $2::uuid[]) AS a(id, lease) WHERE m.id = a.id AND m.lease = a.lease`,
          [batch.map((b) => b.id), batch.map((b) => b.lease)],
          'ack',
          'ack',
        );
        return;
      } catch (err) {
        // An ack lost to a lost connection is a redelivery (acks are at-least-once); retry a few times first.
        if (!isConnectionError(err) || attempt >= 5 || this.closed) return;
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    }
  }

  async flush(): Promise<void> {
    if (this.pendingAcks.length) await this.scheduleAcks();
    await this.ackFlight;
  }

  private async requeueHeld(held: readonly HeldValue[]): Promise<void> {
    await this.q(
      `UPDATE ${this.s}.messages m SET holder = NULL, lease = NULL, visible_at = now()
       FROM unnest($1::bigint[], $2::uuid[]) AS a(id, lease) WHERE m.id = a.id AND m.lease = a.lease`,
      [held.map((h) => h.id), held.map((h) => h.lease)],
      'requeue',
    );
    await this.q(`SELECT pg_notify($1, '')`, [this.ch.messages], 'notify');
  }

  async reject(delivery: Delivery, requeue: boolean, reason?: string): Promise<void> {
    const v = this.settle(delivery.tag);
    if (!v) return;
    if (requeue) {
      await this.requeueHeld([v]);
      return;
    }
    const entry = encodeDeadLetter(deadLetterEntry(delivery, reason, { limits: this.deadLetter }));
    const dlq = deadLetterQueueName(delivery.queue);
    const moved = await this.q(
      `WITH d AS (DELETE FROM ${this.s}.messages WHERE id = $1 AND lease = $2 RETURNING id)
       INSERT INTO ${this.s}.messages (queue, priority, body) SELECT $3, 0, $4 FROM d`,
      [v.id, v.lease, dlq, entry],
      'reject',
    );
    // Keep the newest maxLength dead letters (ids grow with time); held ones are left to their reader.
    if (moved.rowCount) {
      await this.q(
        `DELETE FROM ${this.s}.messages WHERE id IN (
           SELECT id FROM ${this.s}.messages WHERE queue = $1 AND priority = 0 AND holder IS NULL ORDER BY id DESC OFFSET $2)`,
        [dlq, this.deadLetter.maxLength],
        'trim dead letters',
      );
    }
  }

  /** Extend the leases of held messages (the worker calls it while it holds them). */
  async touch(deliveries: readonly Delivery[]): Promise<void> {
    const vs = deliveries.map((d) => this.qos.get(d.tag)?.value ?? parseTag(d.tag)).filter((v): v is HeldValue => !!v);
    if (!vs.length) return;
    await this.q(
      `UPDATE ${this.s}.messages m SET visible_at = now() + $3 * interval '1 millisecond'
       FROM unnest($1::bigint[], $2::uuid[]) AS a(id, lease) WHERE m.id = a.id AND m.lease = a.lease`,
      [vs.map((v) => v.id), vs.map((v) => v.lease), this.info.leaseMs],
      'touch',
      'touch',
    );
  }

  // ---- queue admin ---------------------------------------------------------------------------

  async purge(queue: string): Promise<number> {
    await this.connect();
    const r = await this.q(`DELETE FROM ${this.s}.messages WHERE queue = $1 AND holder IS NULL`, [queue], 'purge');
    return r.rowCount ?? 0;
  }

  async queueLength(queue: string): Promise<number> {
    await this.connect();
    const r = await this.q<{ n: string }>(`SELECT count(*) AS n FROM ${this.s}.messages WHERE queue = $1 AND holder IS NULL`, [queue], 'queue length');
    return Number(r.rows[0]?.n ?? 0);
  }

  async deadLetterLength(queue: string): Promise<number> {
    await this.connect();
    const r = await this.q<{ n: string }>(`SELECT count(*) AS n FROM ${this.s}.messages WHERE queue = $1`, [deadLetterQueueName(queue)], 'dead-letter length');
    return Number(r.rows[0]?.n ?? 0);
  }

  /** The queues that hold messages, or dead letters, now. */
  async listQueues(): Promise<string[]> {
    await this.connect();
    const r = await this.q<{ queue: string }>(`SELECT DISTINCT queue FROM ${this.s}.messages`, [], 'list queues');
    const names = new Set(r.rows.map((x) => x.queue.replace(/\.dead-letter$/, '')));
    return [...names].filter((q) => !isInternalQueue(q)).sort();
  }

  async queueStats(queue: string): Promise<BrokerQueueStats> {
    await this.connect();
    const r = await this.q<Record<'waiting' | 'scheduled' | 'reserved' | 'dead', string>>(
      `SELECT count(*) FILTER (WHERE queue = $1 AND holder IS NULL AND visible_at <= now()) AS waiting,
              count(*) FILTER (WHERE queue = $1 AND holder IS NULL AND visible_at > now()) AS scheduled,
              count(*) FILTER (WHERE queue = $1 AND holder IS NOT NULL) AS reserved,
              count(*) FILTER (WHERE queue = $2) AS dead
         FROM ${this.s}.messages WHERE queue = $1 OR queue = $2`,
      [queue, deadLetterQueueName(queue)],
      'queue stats',
    );
    const row = r.rows[0];
    return { waiting: Number(row?.waiting ?? 0), scheduled: Number(row?.scheduled ?? 0), reserved: Number(row?.reserved ?? 0), deadLetter: Number(row?.dead ?? 0) };
  }

  async moveDeadLetter(queue: string, decide: (t: TakenDeadLetter) => 'requeue' | 'keep'): Promise<TakenDeadLetter | undefined> {
    await this.connect();
    const dlq = deadLetterQueueName(queue);
    const r = await this.q<{ id: string; body: string }>(`SELECT id, body FROM ${this.s}.messages WHERE queue = $1 AND holder IS NULL ORDER BY id LIMIT 1`, [dlq], 'requeue');
    const row = r.rows[0];
    if (!row) return undefined;
    const taken = takenFromList(row.body, decodeEnvelope);
    // Kept: inserted again as the newest dead letter. Either way only if this call deleted the row.
    const [to, body, priority] = decide(taken) === 'requeue' ? [queue, taken.entry.raw as string, clampPriority(taken.message?.properties.priority)] : [dlq, row.body, 0];
    await this.q(
      `WITH gone AS (DELETE FROM ${this.s}.messages WHERE id = $1 AND holder IS NULL RETURNING id)
       INSERT INTO ${this.s}.messages (queue, priority, body) SELECT $2, $3, $4 FROM gone`,
      [row.id, to, priority, body],
      'requeue',
    );
    return taken;
  }

  /** Drop every row of these queues (and their dead letters), held or not (tests, `sprig purge --all`). */
  async deleteQueues(queues: readonly string[]): Promise<void> {
    await this.connect();
    const all = [...queues, ...queues.map(deadLetterQueueName)];
    await this.q(`DELETE FROM ${this.s}.messages WHERE queue = ANY($1::text[])`, [all], 'delete queues');
  }

  // ---- notifications: messages, events, pidbox, replies -------------------------------------

  private onNotification(channel: string, payload: string): void {
    if (channel === this.ch.messages) {
      for (const c of this.consumers) if (!payload || c.watches(payload)) c.pump();
    } else if (channel === this.ch.events) {
      let ev: unknown;
      try {
        ev = parseJson(payload);
      } catch {
        return;
      }
      if (!isSprigEvent(ev)) return;
      const received = Date.now() / 1000;
      for (const h of this.eventHandlers) h({ ...ev, local_received: ev.local_received ?? received });
    } else if (channel === this.ch.pidbox) {
      let req: ControlRequest | undefined;
      try {
        req = parseControl(parseJson(payload));
      } catch {
        return;
      }
      if (req) for (const h of this.controlHandlers) h(req);
    } else if (channel === this.ch.replies) {
      for (const w of this.replyWaiters.get(payload) ?? []) w();
    }
  }

  publishEvent(event: SprigEvent): void {
    if (this.closed) return; // best effort, like Celery's event dispatcher
    this.pendingEvents.push(stringifyJson(event));
    if (this.pendingEvents.length === 1) queueMicrotask(() => this.flushEvents());
  }

  private flushEvents(): void {
    const batch = this.pendingEvents;
    if (!batch.length) return;
    this.pendingEvents = [];
    void this.notifier.send(this.ch.events, batch).catch(() => undefined);
  }

  async subscribeEvents(handler: (event: SprigEvent) => void): Promise<() => Promise<void>> {
    await this.listening();
    this.eventHandlers.add(handler);
    return async () => {
      this.eventHandlers.delete(handler);
    };
  }

  createBackend(): PostgresBackend {
    return new PostgresBackend(this.info);
  }

  // ---- remote control (pidbox) ---------------------------------------------------------------

  async broadcast(request: ControlRequest): Promise<void> {
    await this.connect();
    const body = stringifyJson(controlBody(request));
    await retryQuery(() => this.notifier.send(this.ch.pidbox, [body]), this.publishTimeoutMs, () => this.closed, `broadcast (${this.displayUrl})`);
  }

  async subscribeControl(handler: (request: ControlRequest) => void): Promise<() => Promise<void>> {
    await this.listening();
    this.controlHandlers.add(handler);
    return async () => {
      this.controlHandlers.delete(handler);
    };
  }

  async reply(replyTo: { exchange: string; routing_key: string }, ticket: string, body: unknown): Promise<void> {
    await this.q(
      `WITH i AS (INSERT INTO ${this.s}.replies (reply_to, body) VALUES ($1, $2) RETURNING 1) SELECT pg_notify($3, $1) FROM i`,
      [replyTo.routing_key, stringifyJson({ ticket, body }), this.ch.replies],
      'reply',
    );
  }

  async collectReplies(replyTo: string, timeoutMs: number, expected?: number): Promise<unknown[]> {
    await this.listening();
    const out: unknown[] = [];
    const deadline = Date.now() + timeoutMs;
    let wake: (() => void) | undefined;
    let set = this.replyWaiters.get(replyTo);
    if (!set) this.replyWaiters.set(replyTo, (set = new Set()));
    const waiter = () => wake?.();
    set.add(waiter);
    try {
      while (expected === undefined || out.length < expected) {
        const r = await this.q<{ body: string }>(`DELETE FROM ${this.s}.replies WHERE reply_to = $1 RETURNING body`, [replyTo], 'collect replies');
        for (const row of r.rows) {
          try {
            out.push((parseJson(row.body) as { body: unknown }).body);
          } catch {
            // not ours
          }
        }
        if (expected !== undefined && out.length >= expected) break;
        const left = deadline - Date.now();
        if (left <= 0) break;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 1000));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    } finally {
      set.delete(waiter);
      if (!set.size) this.replyWaiters.delete(replyTo);
    }
    return out;
  }
}

/** A tag is `<id>:<lease>`. */
function parseTag(tag: string): HeldValue | undefined {
  const i = tag.indexOf(':');
  if (i <= 0) return undefined;
  return { id: tag.slice(0, i), lease: tag.slice(i + 1), epoch: -1 };
}

function clampPriority(p: unknown): number {
  const n = Number(p ?? 0);
  return Number.isFinite(n) ? Math.max(0, Math.min(255, Math.floor(n))) : 0;
}

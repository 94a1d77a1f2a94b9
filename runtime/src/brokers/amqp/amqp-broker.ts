import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, GetMessage, Options } from 'amqplib';
import type { TransportMessage } from '../../protocol/message.js';
import { eventRoutingKey, isSprigEvent, type SprigEvent } from '../../events/types.js';
import { ConnectionError } from '../../errors.js';
import { ReplyBuffer, RpcBackend, type RpcTransport } from '../../backends/rpc.js';
import { createLogger } from '../../util/log.js';
import { Deadline, settledWithin, sleep, withDeadline } from '../../util/resilience.js';
import { DEAD_LETTER_HEADERS, deadLetterEntry, deadLetterLimits, readDeadLetter, type DeadLetterEntry, type DeadLetterLimits } from '../dead-letter.js';
import { isInternalQueue } from '../queue-names.js';
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
import type { ControlRequest } from '../../protocol/control.js';
import { AmqpConnection, ChannelSlot, isConnectionError, noop, type Outgoing } from './connection.js';
import { AmqpPidbox } from './pidbox.js';
import { AmqpConsumer, type ConsumerHost, type Held } from './consumer.js';
import { fromAmqpMessage, jsonBody, toPublishOptions } from './mapping.js';
import { Subscription, type SubscriptionSpec } from './subscription.js';
import {
  declareDeadLetterQueue,
  declareSharedExchanges,
  declareTaskQueue,
  queueTypeFrom,
  type QueueTypeOptions,
  maxPriorityFrom,
  EVENT_EXCHANGE,
  EVENT_QUEUE_EXPIRES_MS,
  EVENT_QUEUE_TTL_MS,
  ifExists,
  RPC_QUEUE_EXPIRES_MS,
} from './topology.js';
import { parseAmqpUrlList, type AmqpUrlInfo } from './url.js';
import { AmqpLeases } from './amqp-leases.js';
import type { LeaseStore } from '../lease.js';
import { bindDelayedQueue, declareDelayedDelivery, delayedRoutingKey, delayOf, ENTRY_EXCHANGE } from './delayed-delivery.js';
import { stringifyJson } from '../../serialization/json.js';

const CLOSE_TIMEOUT_MS = 2000;
const log = createLogger('sprig.amqp');

/**
 * The confirms, or a ConnectionError at the deadline: with the connection up but blocked (a
 * RabbitMQ memory or disk alarm) confirms never come, and a publish must not hang forever.
 */
function confirmedBy(all: Promise<unknown>, deadline: Deadline, what: string): Promise<void> {
  return withDeadline(all.then(noop), deadline.left, () =>
    new ConnectionError(`${what}: RabbitMQ did not confirm in time (is the connection blocked by a memory or disk alarm?); the message may still arrive`),
  );
}

/** Resolves when the channel's write buffer drains (or the channel closes: the confirms then fail). */
function drained(ch: Channel): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      ch.off('drain', done);
      ch.off('close', done);
      resolve();
    };
    ch.once('drain', done);
    ch.once('close', done);
  });
}

/**
 * `amqp://user:pass@host:port/vhost` — RabbitMQ with Celery's topology, so Python Celery
 * workers and clients share the queues, events, pidbox and rpc results.
 *
 * - Publishes go through a confirm channel: publish() resolves once RabbitMQ has the message.
 *   While the connection is down they wait (publishTimeoutMs, default 30 s) and are sent again
 *   after the reconnect — at least once: a message whose confirm was lost may be sent twice.
 * - Task queues that exist are used as they are; new ones are declared like Celery's (no arguments;
 *   `x-max-priority` when the URL has `?queue_max_priority=N`).
 * - Dead-lettering: an existing queue cannot be given `x-dead-letter-exchange`, so rejecting
 *   without requeue publishes a copy (header `x-sprig-reject-reason`) to `<queue>.dead-letter`,
 *   waits for the confirm, then acks the original.
 * - Prefetch is `basic.qos(n, global=true)` on each consumer's channel, as Celery does on
 *   RabbitMQ: one limit over all its queues, and setPrefetch() applies to running consumers.
 * - After a reconnect, consumers, event/control subscriptions and the rpc reply queue come back;
 *   deliveries held from the old connection cannot be acked (no-op) and RabbitMQ redelivers them.
 */
export class AmqpBroker implements Broker, ConsumerHost, RpcTransport {
  readonly kind = 'amqp' as const;
  readonly displayUrl: string;
  readonly capabilities: BrokerCapabilities = { priorities: 'higher-first' };
  readonly info: AmqpUrlInfo;
  /** Celery 5.5's task_default_queue_type (and the quorum queues' delivery limit). */
  readonly queueType: QueueTypeOptions;
  /** Quorum queues refuse global QoS: consumers then use per-consumer prefetch. */
  get globalQos(): boolean {
    return this.queueType.type !== 'quorum';
  }
  readonly replies = new ReplyBuffer();
  private readonly publishTimeoutMs: number;
  private readonly deadLetter: DeadLetterLimits;
  private readonly conn: AmqpConnection;
  private readonly emitter = new EventEmitter();
  private readonly pub = new ChannelSlot<ConfirmChannel>((m) => m.createConfirmChannel());
  private readonly ev = new ChannelSlot<Channel>((m) => m.createChannel());
  /** Declarations done on the current connection (cleared on reconnect: queues may be gone). */
  private declared = new Map<string, Promise<void>>();
  private readonly consumers = new Set<AmqpConsumer>();
  readonly qos = new QoS<AmqpConsumer, Held>();
  private readonly subs = new Set<Subscription>();
  private replyQueueP?: Promise<string>;
  private closed = false;
  /** Beat lease stores: each holds connections of its own (see amqp-leases.ts). */
  private readonly leaseStores = new Set<AmqpLeases>();

  constructor(url: string, opts: BrokerOptions = {}) {
    // kombu's failover list `amqp://h1;amqp://h2`: one connection that moves to the next node.
    const list = parseAmqpUrlList(url, opts.transportOptions);
    this.info = list.nodes[0]!;
    this.displayUrl = list.displayUrl;
    this.queueType = queueTypeFrom(this.info.query, opts);
    this.publishTimeoutMs = opts.publishTimeoutMs ?? 30_000;
    this.deadLetter = deadLetterLimits(opts.deadLetter);
    this.conn = new AmqpConnection(this.info, (m) => this.setup(m), list);
    this.conn.on('down', (err) => {
      log.warn(`connection to ${this.displayUrl} lost${err ? `: ${err.message}` : ''}; reconnecting`);
      this.emitter.emit('disconnect');
    });
    this.conn.on('reconnecting', (attempt, delayMs, lastError) => {
      // One line per attempt: the first five, then every tenth (as the Redis broker does).
      if (attempt > 5 && attempt % 10 !== 0) return;
      const why = lastError ? ` (last: ${(lastError as Error).message ?? String(lastError)})` : '';
      log.info(`reconnecting to ${this.displayUrl} (attempt ${attempt}, in ${(delayMs / 1000).toFixed(1)} s)${why}`);
    });
    this.conn.on('up', (m, reconnected) => {
      if (reconnected) void this.resume(m);
    });
  }

  on(event: 'reconnect' | 'disconnect', listener: () => void): void {
    this.emitter.on(event, listener);
  }

  async connect(): Promise<void> {
    await this.conn.connect();
  }

  private async setup(model: ChannelModel): Promise<void> {
    this.declared = new Map();
    const ch = await model.createChannel();
    ch.on('error', noop);
    try {
      await declareSharedExchanges(ch);
    } catch (err) {
      // Declared otherwise by someone else: ours are only conveniences, theirs work as well.
      log.warn(`cannot declare the events/pidbox exchanges: ${(err as Error).message}`);
    }
    await ch.close().catch(noop);
    await this.pub.get(model);
  }

  /** After a reconnect: consumers and subscriptions come back with the same queues/prefetch. */
  private async resume(model: ChannelModel): Promise<void> {
    const all: Array<Promise<void>> = [];
    for (const c of this.consumers) {
      all.push(
        c.start(model).catch((err) => {
          this.warn(`cannot resume consumer: ${(err as Error).message}`);
          c.scheduleRestart();
        }),
      );
    }
    for (const s of this.subs) all.push(s.start(model).catch((err) => this.warn(`cannot resubscribe: ${(err as Error).message}`)));
    await Promise.all(all);
    log.info(`reconnected to ${this.displayUrl}`);
    this.emitter.emit('reconnect');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const parts = [...[...this.consumers].map((c) => c.close()), ...[...this.subs].map((s) => s.stop()), ...[...this.leaseStores].map((l) => l.close()), this.pub.close(), this.ev.close()];
    this.consumers.clear();
    this.subs.clear();
    // Goodbyes (basic.cancel, deleting the rpc reply queue) are bounded: on a half-dead connection
    // amqplib may never answer. Closing the connection gives back anything unacked anyway.
    await settledWithin(Promise.all(parts), this.conn.isUp ? CLOSE_TIMEOUT_MS : 100);
    await settledWithin(this.conn.close(), CLOSE_TIMEOUT_MS);
  }

  /** The beat lease: an exclusive queue and a token message (amqp-leases.ts, docs/beat.md). */
  leases(): LeaseStore {
    const store = new AmqpLeases(this.conn.node, { declareQueue: (q) => this.declareQueue(q) });
    this.leaseStores.add(store);
    return store;
  }

  /** Declare a task queue as publishing would (once per connection). */
  async declareQueue(queue: string): Promise<void> {
    await this.ensureQueue(queue, await this.conn.ready(this.publishTimeoutMs, 'declare queue'));
  }

  // ---- ConsumerHost ---------------------------------------------------------------------------

  liveModel(): ChannelModel | undefined {
    return this.conn.current;
  }

  warn(msg: string): void {
    log.warn(msg);
  }

  /** Run `fn` with channels of its own: a 404/406 closes a channel, never a shared one. */
  private async withChannel<T>(what: string, fn: (open: () => Promise<Channel>) => Promise<T>, model?: ChannelModel): Promise<T> {
    const m = model ?? (await this.conn.ready(this.publishTimeoutMs, what));
    const opened: Channel[] = [];
    const dead = new WeakSet<Channel>();
    const open = async (): Promise<Channel> => {
      const last = opened[opened.length - 1];
      if (last && !dead.has(last)) return last;
      const ch = await m.createChannel();
      ch.on('error', noop);
      ch.on('close', () => dead.add(ch));
      opened.push(ch);
      return ch;
    };
    try {
      return await fn(open);
    } finally {
      for (const ch of opened) if (!dead.has(ch)) void ch.close().catch(noop);
    }
  }

  private once(key: string, make: () => Promise<void>): Promise<void> {
    let p = this.declared.get(key);
    if (!p) {
      const declared = this.declared;
      p = make();
      declared.set(key, p);
      p.catch(() => declared.get(key) === p && declared.delete(key));
    }
    return p;
  }

  ensureQueue(queue: string, model: ChannelModel): Promise<void> {
    return this.once(`q:${queue}`, () =>
      this.withChannel(
        'declare queue',
        async (open) => {
          // A quorum queue dead-letters poison messages there: it must exist first.
          if (this.queueType.type === 'quorum' && this.queueType.deliveryLimit > 0) await this.ensureDeadLetterQueue(deadLetterQueueName(queue), model);
          await declareTaskQueue(open, queue, maxPriorityFrom(this.info.query), this.queueType);
          if (this.nativeDelayedDelivery) {
            await this.ensureDelayedDelivery(model);
            await bindDelayedQueue(await open(), queue);
          }
        },
        model,
      ),
    );
  }

  /** Celery 5.5 turns native delayed delivery on with quorum queues (their QoS cannot grow for ETAs). */
  get nativeDelayedDelivery(): boolean {
    return this.queueType.type === 'quorum';
  }

  private ensureDelayedDelivery(model: ChannelModel): Promise<void> {
    return this.once('delayed-delivery', () =>
      this.withChannel('declare delayed delivery', async (open) => declareDelayedDelivery(await open(), this.queueType.type), model),
    );
  }

  forgetQueue(queue: string): void {
    this.declared.delete(`q:${queue}`);
  }

  private ensureDeadLetterQueue(queue: string, model: ChannelModel): Promise<void> {
    return this.once(`dlq:${queue}`, () =>
      this.withChannel(
        'declare queue',
        async (open) => {
          const capped = await declareDeadLetterQueue(open, queue, this.deadLetter.maxLength, this.queueType.type);
          if (!capped) {
            log.warn(
              `dead-letter queue ${queue} exists with other arguments: its length is not capped at ${this.deadLetter.maxLength} ` +
                `(delete it to have it declared with x-max-length, or cap it with a policy: rabbitmqctl set_policy ... '{"max-length": N}')`,
            );
          }
        },
        model,
      ),
    );
  }

  private ensureExchange(name: string, type: string, durable: boolean, model: ChannelModel): Promise<void> {
    return this.once(`x:${name}`, () =>
      this.withChannel('declare exchange', async (open) => void (await (await open()).assertExchange(name, type, { durable, autoDelete: false })), model),
    );
  }

  // ---- publishing -----------------------------------------------------------------------------

  async publish(queue: string, message: TransportMessage): Promise<void> {
    await this.publishBatch([{ queue, message }]);
  }

  async publishBatch(items: ReadonlyArray<{ queue: string; message: TransportMessage }>): Promise<void> {
    if (!items.length) return;
    await this.send(
      'publish',
      items.map(({ queue, message }) => {
        // An ETA at least a second ahead waits in the delay levels (native delayed delivery), not in a worker.
        const delay = this.nativeDelayedDelivery ? delayOf(message.headers.eta) : 0;
        const [exchange, routingKey] = delay ? [ENTRY_EXCHANGE, delayedRoutingKey(delay, queue)] : ['', queue];
        return { exchange, routingKey, body: message.body, options: toPublishOptions(message), queue };
      }),
    );
  }

  /**
   * Publish on the confirm channel and wait for RabbitMQ's confirms. A dropped connection or
   * channel means: wait for it to come back (within publishTimeoutMs) and send it all again.
   */
  private async send(what: string, items: readonly Outgoing[], before?: (model: ChannelModel) => Promise<void>): Promise<void> {
    const deadline = new Deadline(this.publishTimeoutMs);
    let pending = items;
    for (;;) {
      if (this.closed) throw new ConnectionError(`${what}: the broker connection is closed`);
      const model = await this.conn.ready(deadline.left, what);
      // A task queue deleted since we declared it: RabbitMQ would confirm and drop the message
      // (no route). `mandatory` makes it come back (basic.return, before its confirm): declare again, resend.
      const returned = new Set<Outgoing>();
      const onReturn = (m: { fields: { routingKey: string }; content: Buffer }) => {
        const it = pending.find((i) => i.queue && !returned.has(i) && i.routingKey === m.fields.routingKey && i.body.equals(m.content));
        if (it) returned.add(it);
      };
      let ch: ConfirmChannel | undefined;
      try {
        if (before) await before(model);
        for (const q of new Set(pending.map((i) => i.queue))) if (q) await this.ensureQueue(q, model);
        ch = await this.pub.get(model);
        ch.on('return', onReturn);
        const confirms: Array<Promise<void>> = [];
        for (const it of pending) {
          let ok = true;
          const options = it.queue ? { ...it.options, mandatory: true } : it.options;
          const p = new Promise<void>((resolve, reject) => {
            ok = ch!.publish(it.exchange, it.routingKey, it.body, options, (err: unknown) => (err ? reject(err) : resolve()));
          });
          p.catch(noop); // handled by Promise.all below; must not count as unhandled meanwhile
          confirms.push(p);
          if (!ok) await drained(ch);
        }
        await confirmedBy(Promise.all(confirms), deadline, what);
        if (!returned.size) return;
        for (const it of returned) if (it.queue) this.forgetQueue(it.queue);
        const gone = [...new Set([...returned].map((i) => i.queue))].join(', ');
        if (deadline.passed) throw new ConnectionError(`${what}: queue ${gone} does not exist (deleted?) and was not declared again in time; it was not sent`);
        log.warn(`${what}: queue ${gone} was gone (deleted?): declaring it again and sending again`);
        pending = [...returned];
      } catch (err) {
        if (this.closed) throw new ConnectionError(`${what}: the broker connection is closed`, { cause: err });
        if (err instanceof ConnectionError) throw err;
        if (/message nacked/.test((err as Error).message)) {
          throw new ConnectionError(`${what}: RabbitMQ refused the message (basic.nack: out of disk or memory?)`, { cause: err });
        }
        if (this.conn.isUp && !isConnectionError(err)) throw err;
        if (deadline.passed) {
          throw new ConnectionError(`${what}: no connection to RabbitMQ at ${this.info.host}:${this.info.port} within ${Math.round(this.publishTimeoutMs / 1000)} s`, { cause: err });
        }
        await sleep(Math.min(100, deadline.left));
      } finally {
        ch?.off('return', onReturn);
      }
    }
  }

  // ---- consuming ------------------------------------------------------------------------------

  async consume(queues: readonly string[], prefetch: number, onDelivery: DeliveryHandler): Promise<Consumer> {
    const model = await this.conn.ready(this.publishTimeoutMs, 'consume');
    const c = new AmqpConsumer(this, queues, prefetch, onDelivery);
    this.consumers.add(c);
    try {
      await c.start(model);
    } catch (err) {
      this.consumers.delete(c);
      await c.close();
      throw err;
    }
    return {
      setPrefetch: (n) => c.setPrefetch(n),
      cancel: async () => {
        this.consumers.delete(c);
        await c.cancel();
      },
    };
  }

  /** Its channel died: RabbitMQ has put it back and will deliver it again. */
  isStale(delivery: Delivery): boolean {
    return !this.qos.get(delivery.tag)?.owner.peek(delivery.tag);
  }

  /** Acks go out by the next turn, a run of them as one frame (ack-coalescer.ts); on a dead channel this is a no-op. */
  ack(delivery: Delivery): void {
    this.qos.get(delivery.tag)?.owner.settle(delivery.tag, 'ack');
  }

  /** Acks wait at most for the next turn (ack-coalescer.ts): written now. */
  async flush(): Promise<void> {
    for (const c of this.consumers) c.flushAcks();
  }

  async reject(delivery: Delivery, requeue: boolean, reason?: string): Promise<void> {
    const owner = this.qos.get(delivery.tag)?.owner;
    if (!owner) return;
    if (requeue) return owner.settle(delivery.tag, 'requeue');
    const held = owner.peek(delivery.tag);
    // Its channel is gone: RabbitMQ redelivers it; dead-lettering a copy now would duplicate it.
    if (!held) return owner.settle(delivery.tag, 'drop');
    const dlq = deadLetterQueueName(delivery.queue);
    const entry = deadLetterEntry({ queue: delivery.queue, raw: held.msg.content }, reason, { limits: this.deadLetter });
    const options = deadLetterOptions(held.msg, entry);
    const body = Buffer.isBuffer(entry.raw) ? entry.raw : Buffer.from(entry.raw, 'utf8');
    try {
      await this.send('dead-letter', [{ exchange: '', routingKey: dlq, body, options }], (m) => this.ensureDeadLetterQueue(dlq, m));
    } catch (err) {
      owner.settle(delivery.tag, 'requeue'); // not dead-lettered: do not lose it either
      throw err;
    }
    owner.settle(delivery.tag, 'ack');
  }

  // ---- queue admin ----------------------------------------------------------------------------

  async purge(queue: string): Promise<number> {
    return this.withChannel('purge', async (open) => (await ifExists((await open()).purgeQueue(queue)))?.messageCount ?? 0);
  }

  /** Messages ready in the queue (not counting ones delivered and not yet acked), 0 if it does not exist. */
  async queueLength(queue: string): Promise<number> {
    return this.withChannel('queue length', async (open) => (await ifExists((await open()).checkQueue(queue)))?.messageCount ?? 0);
  }

  async deadLetterLength(queue: string): Promise<number> {
    return this.queueLength(deadLetterQueueName(queue));
  }

  /** AMQP 0-9-1 cannot list queues (the management plugin's HTTP API can): the ones this client declared. */
  async listQueues(): Promise<string[]> {
    return [...this.declared.keys()].filter((k) => k.startsWith('q:')).map((k) => k.slice(2)).filter((q) => !isInternalQueue(q)).sort();
  }

  /** Ready messages and consumers as RabbitMQ counts them (unacked ones it does not tell over AMQP). */
  async queueStats(queue: string): Promise<BrokerQueueStats> {
    const [q, dlq] = await this.withChannel('queue stats', async (open) => [
      await ifExists((await open()).checkQueue(queue)),
      await ifExists((await open()).checkQueue(deadLetterQueueName(queue))),
    ]);
    return { waiting: q?.messageCount ?? 0, consumers: q?.consumerCount ?? 0, deadLetter: dlq?.messageCount ?? 0 };
  }

  /** basic.get the oldest dead letter; publish (confirmed) its body with its own properties to the queue or the dead-letter queue's end; then ack it. */
  async moveDeadLetter(queue: string, decide: (t: TakenDeadLetter) => 'requeue' | 'keep'): Promise<TakenDeadLetter | undefined> {
    const dlq = deadLetterQueueName(queue);
    return this.withChannel('requeue', async (open) => {
      const ch = await open();
      const got = await ifExists(ch.get(dlq, { noAck: false }));
      if (!got) return undefined;
      let message: TransportMessage | undefined;
      let error: Error | undefined;
      try {
        message = fromAmqpMessage(got as unknown as ConsumeMessage, queue);
      } catch (err) {
        error = err as Error;
      }
      const entry = readDeadLetter({ tag: '', queue: dlq, message, raw: got.content, redelivered: false }) ?? {
        reason: 'rejected', queue, time: 0, raw: got.content, size: got.content.length, truncated: false,
      };
      const original = stripDeadLetterHeaders(message);
      const taken: TakenDeadLetter = { entry, message: original, error };
      const requeue = decide(taken) === 'requeue';
      const options = requeue ? { ...ownOptions(got), headers: original!.headers } : ownOptions(got);
      await this.send('requeue', [{ exchange: '', routingKey: requeue ? queue : dlq, body: got.content, options, queue: requeue ? queue : undefined }], requeue ? undefined : (m) => this.ensureDeadLetterQueue(dlq, m));
      ch.ack(got);
      return taken;
    });
  }

  /** Delete a task queue, its dead-letter queue and its exchange (tests, `sprig purge --delete`). */
  async deleteQueue(queue: string): Promise<void> {
    await this.withChannel('delete queue', async (open) => {
      await ifExists((await open()).deleteQueue(queue));
      await ifExists((await open()).deleteQueue(deadLetterQueueName(queue)));
      if (queue !== 'celery') await ifExists((await open()).deleteExchange(queue));
    });
    for (const k of [`q:${queue}`, `dlq:${deadLetterQueueName(queue)}`]) this.declared.delete(k);
  }

  // ---- events ---------------------------------------------------------------------------------

  /** Best effort, like Celery's event dispatcher: dropped while disconnected. */
  publishEvent(event: SprigEvent): void {
    const model = this.conn.current;
    if (!model || this.closed) return;
    const body = Buffer.from(stringifyJson(event), 'utf8');
    const options: Options.Publish = { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 1, headers: { hostname: event.hostname } };
    this.ev.get(model).then((ch) => ch.publish(EVENT_EXCHANGE, eventRoutingKey(event.type), body, options), noop).catch(noop);
  }

  async subscribeEvents(handler: (event: SprigEvent) => void): Promise<() => Promise<void>> {
    return this.subscribe({
      declare: async (ch) => {
        const { queue } = await ch.assertQueue(`celeryev.${randomUUID()}`, {
          exclusive: true,
          autoDelete: true,
          durable: false,
          arguments: { 'x-message-ttl': EVENT_QUEUE_TTL_MS, 'x-expires': EVENT_QUEUE_EXPIRES_MS },
        });
        await ch.bindQueue(queue, EVENT_EXCHANGE, '#');
        return queue;
      },
      onMessage: (m) => {
        const body = jsonBody(m);
        const received = Date.now() / 1000;
        // Celery workers batch task events as `task.multi`: a list of events in one message.
        for (const ev of Array.isArray(body) ? body : [body]) {
          if (isSprigEvent(ev)) handler({ ...ev, local_received: ev.local_received ?? received });
        }
      },
    });
  }

  private async subscribe(spec: SubscriptionSpec): Promise<() => Promise<void>> {
    const model = await this.conn.ready(this.publishTimeoutMs, 'subscribe');
    const s = new Subscription(spec, () => this.conn.current, (m) => this.warn(m));
    this.subs.add(s);
    try {
      await s.start(model);
    } catch (err) {
      this.subs.delete(s);
      await s.stop();
      throw err;
    }
    return async () => {
      this.subs.delete(s);
      await s.stop();
    };
  }

  // ---- rpc results ----------------------------------------------------------------------------

  createBackend(): RpcBackend {
    return new RpcBackend(this);
  }

  /**
   * This client's reply queue for rpc results: put it in task messages as `reply_to`. Not
   * exclusive (unlike an auto-named queue): it must outlive a dropped connection so results
   * published meanwhile wait in it; `x-expires` removes it when its client is gone for a day,
   * close() deletes it at once.
   */
  replyQueue(): Promise<string> {
    if (this.replyQueueP) return this.replyQueueP;
    const name = randomUUID();
    const p = this.subscribe({
      declare: async (ch) => {
        await ch.assertQueue(name, { durable: false, autoDelete: false, exclusive: false, arguments: { 'x-expires': RPC_QUEUE_EXPIRES_MS } });
        return name;
      },
      onMessage: (m) => void this.replies.add(m.properties.correlationId, m.content, m.properties.contentType),
      cleanup: async (ch) => void (await ch.deleteQueue(name)),
    }).then(() => name);
    this.replyQueueP = p;
    p.catch(() => this.replyQueueP === p && (this.replyQueueP = undefined));
    return p;
  }

  async publishReply(replyTo: string, correlationId: string, body: Buffer, contentType: string): Promise<void> {
    const options: Options.Publish = { contentType, contentEncoding: 'utf-8', correlationId, deliveryMode: 1 };
    await this.send('store result', [{ exchange: '', routingKey: replyTo, body, options }]);
  }

  // ---- remote control (pidbox) ----------------------------------------------------------------

  private readonly pidbox = new AmqpPidbox({
    send: (what, items, before) => this.send(what, items, before),
    ready: (what) => this.conn.ready(this.publishTimeoutMs, what),
    withChannel: (what, fn, model) => this.withChannel(what, fn, model),
    ensureExchange: (name, model) => this.ensureExchange(name, 'direct', false, model),
    subscribe: (spec) => this.subscribe(spec),
  });

  broadcast(request: ControlRequest): Promise<void> {
    return this.pidbox.broadcast(request);
  }

  subscribeControl(handler: (request: ControlRequest) => void): Promise<() => Promise<void>> {
    return this.pidbox.subscribe(handler);
  }

  reply(replyTo: { exchange: string; routing_key: string }, ticket: string, body: unknown): Promise<void> {
    return this.pidbox.reply(replyTo, ticket, body);
  }

  collectReplies(replyTo: string, timeoutMs: number, expected?: number): Promise<unknown[]> {
    return this.pidbox.collectReplies(replyTo, timeoutMs, expected);
  }
}

/** The dead-lettered copy: same body (its head past maxBytes) and properties, the entry's fields as headers; no TTL. */
function deadLetterOptions(m: ConsumeMessage, e: DeadLetterEntry): Options.Publish {
  const o = ownOptions(m);
  const h = DEAD_LETTER_HEADERS;
  o.headers = { ...o.headers, [h.reason]: e.reason, [h.queue]: e.queue, [h.time]: e.time, [h.size]: e.size, ...(e.truncated ? { [h.truncated]: true } : {}) };
  return o;
}

/** The message as it was before it was dead-lettered: without the x-sprig-* headers the dead-letter queue added. */
function stripDeadLetterHeaders(m: TransportMessage | undefined): TransportMessage | undefined {
  if (!m) return undefined;
  const headers = { ...m.headers };
  for (const h of Object.values(DEAD_LETTER_HEADERS)) delete headers[h];
  return { ...m, headers };
}

/** Publish options that carry a got message's own properties on. */
function ownOptions(m: GetMessage | ConsumeMessage): Options.Publish {
  const p = m.properties;
  const o: Options.Publish = {
    contentType: p.contentType as string | undefined,
    contentEncoding: p.contentEncoding as string | undefined,
    headers: { ...(p.headers ?? {}) },
    deliveryMode: 2,
    priority: p.priority as number | undefined,
    correlationId: p.correlationId as string | undefined,
    replyTo: p.replyTo as string | undefined,
    messageId: p.messageId as string | undefined,
    timestamp: p.timestamp as number | undefined,
    type: p.type as string | undefined,
    appId: p.appId as string | undefined,
  };
  for (const k of Object.keys(o) as Array<keyof Options.Publish>) if (o[k] === undefined) delete o[k];
  return o;
}

import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import type { TransportMessage } from '../../protocol/message.js';
import { eventRoutingKey, isSprigEvent, type SprigEvent } from '../../events/types.js';
import { ConnectionError } from '../../errors.js';
import { ReplyBuffer, RpcBackend, type RpcTransport } from '../../backends/rpc.js';
import { createLogger } from '../../util/log.js';
import type { BrokerOptions } from '../registry.js';
import {
  deadLetterQueueName,
  type Broker,
  type BrokerCapabilities,
  type Consumer,
  type ControlRequest,
  type Delivery,
  type DeliveryHandler,
} from '../types.js';
import { AmqpConnection, ChannelSlot, isClosedError, noop } from './connection.js';
import { AmqpConsumer, type ConsumerHost } from './consumer.js';
import { controlBody, jsonBody, parseControl, toPublishOptions } from './mapping.js';
import { Subscription, type SubscriptionSpec } from './subscription.js';
import {
  declareDeadLetterQueue,
  declareSharedExchanges,
  declareTaskQueue,
  EVENT_EXCHANGE,
  EVENT_QUEUE_EXPIRES_MS,
  EVENT_QUEUE_TTL_MS,
  ifExists,
  PIDBOX_EXCHANGE,
  PIDBOX_MESSAGE_TTL_MS,
  PIDBOX_QUEUE_EXPIRES_MS,
  pidboxReplyQueue,
  REJECT_QUEUE_HEADER,
  REJECT_REASON_HEADER,
  REPLY_EXCHANGE,
  RPC_QUEUE_EXPIRES_MS,
} from './topology.js';
import { parseAmqpUrl, type AmqpUrlInfo } from './url.js';

/** How long a pidbox broadcast stays valid for workers (Celery: now + the client's timeout). */
const CONTROL_EXPIRES_SEC = 10;
const log = createLogger('sprig.amqp');

interface Outgoing {
  exchange: string;
  routingKey: string;
  body: Buffer;
  options: Options.Publish;
  /** A task queue to declare (once per connection) before publishing to it. */
  queue?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * `amqp://user:pass@host:port/vhost` — RabbitMQ with Celery's topology, so Python Celery
 * workers and clients share the queues, events, pidbox and rpc results.
 *
 * - Publishes go through a confirm channel: publish() resolves once RabbitMQ has the message.
 *   While the connection is down they wait (publishTimeoutMs, default 30 s) and are sent again
 *   after the reconnect — at least once: a message whose confirm was lost may be sent twice.
 * - Task queues that exist are used as they are; new ones get `x-max-priority: 10`.
 * - Dead-lettering: an existing queue cannot be given `x-dead-letter-exchange`, so rejecting
 *   without requeue publishes a copy (header `x-sprig-reject-reason`) to `<queue>.dead-letter`,
 *   waits for the confirm, then acks the original.
 */
export class AmqpBroker implements Broker, ConsumerHost, RpcTransport {
  readonly kind = 'amqp' as const;
  readonly displayUrl: string;
  readonly capabilities: BrokerCapabilities = {
    priorities: 'higher-first',
    deadLetter: 'list',
    results: true,
    events: true,
    control: true,
  };
  readonly info: AmqpUrlInfo;
  readonly replies = new ReplyBuffer();
  private readonly publishTimeoutMs: number;
  private readonly conn: AmqpConnection;
  private readonly emitter = new EventEmitter();
  private readonly pub = new ChannelSlot<ConfirmChannel>((m) => m.createConfirmChannel());
  private readonly ev = new ChannelSlot<Channel>((m) => m.createChannel());
  /** Declarations done on the current connection (cleared on reconnect: queues may be gone). */
  private declared = new Map<string, Promise<void>>();
  private readonly consumers = new Set<AmqpConsumer>();
  private readonly owners = new Map<string, AmqpConsumer>();
  private readonly subs = new Set<Subscription>();
  private replyQueueP?: Promise<string>;
  private replySub?: Subscription;
  private clock = 0;
  private closed = false;

  constructor(url: string, opts: BrokerOptions = {}) {
    this.info = parseAmqpUrl(url);
    this.displayUrl = this.info.displayUrl;
    this.publishTimeoutMs = opts.publishTimeoutMs ?? 30_000;
    this.conn = new AmqpConnection(this.info, (m) => this.setup(m));
    this.conn.on('down', (err) => {
      log.warn(`connection to ${this.displayUrl} lost${err ? `: ${err.message}` : ''}; reconnecting`);
      this.emitter.emit('disconnect');
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
    for (const c of this.consumers) all.push(c.start(model).catch((err) => (this.warn(`cannot resume consumer: ${(err as Error).message}`), c.scheduleRestart())));
    for (const s of this.subs) all.push(s.start(model).catch((err) => this.warn(`cannot resubscribe: ${(err as Error).message}`)));
    await Promise.all(all);
    log.info(`reconnected to ${this.displayUrl}`);
    this.emitter.emit('reconnect');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.consumers) await c.close();
    this.consumers.clear();
    this.owners.clear();
    for (const s of this.subs) await s.stop();
    this.subs.clear();
    await this.pub.close();
    await this.ev.close();
    await this.conn.close();
  }

  // ---- ConsumerHost ---------------------------------------------------------------------------

  liveModel(): ChannelModel | undefined {
    return this.conn.current;
  }

  track(tag: string, consumer: AmqpConsumer): void {
    this.owners.set(tag, consumer);
  }

  untrack(tag: string): void {
    this.owners.delete(tag);
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
    return this.once(`q:${queue}`, () => this.withChannel('declare queue', (open) => declareTaskQueue(open, queue).then(noop), model));
  }

  private ensureDeadLetterQueue(queue: string, model: ChannelModel): Promise<void> {
    return this.once(`dlq:${queue}`, () => this.withChannel('declare queue', async (open) => declareDeadLetterQueue(await open(), queue), model));
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
      items.map(({ queue, message }) => ({ exchange: '', routingKey: queue, body: message.body, options: toPublishOptions(message), queue })),
    );
  }

  /**
   * Publish on the confirm channel and wait for RabbitMQ's confirms. A dropped connection or
   * channel means: wait for it to come back (within publishTimeoutMs) and send it all again.
   */
  private async send(what: string, items: readonly Outgoing[], before?: (model: ChannelModel) => Promise<void>): Promise<void> {
    const deadline = Date.now() + this.publishTimeoutMs;
    for (;;) {
      if (this.closed) throw new ConnectionError(`${what}: the broker connection is closed`);
      const model = await this.conn.ready(deadline - Date.now(), what);
      try {
        if (before) await before(model);
        for (const q of new Set(items.map((i) => i.queue))) if (q) await this.ensureQueue(q, model);
        const ch = await this.pub.get(model);
        const confirms: Array<Promise<void>> = [];
        for (const it of items) {
          const ok = ch.publish(it.exchange, it.routingKey, it.body, it.options);
          confirms.push(new Promise<void>((resolve, reject) => ch.once('close', () => reject(new Error('channel closed'))) && void 0 as unknown as void));
          void ok;
        }
        await Promise.all(confirms);
        return;
      } catch (err) {
        if (this.closed) throw new ConnectionError(`${what}: the broker connection is closed`, { cause: err });
        if (/message nacked/.test((err as Error).message)) {
          throw new ConnectionError(`${what}: RabbitMQ refused the message (basic.nack: out of disk or memory?)`, { cause: err });
        }
        if (this.conn.isUp && !isClosedError(err)) throw err;
        if (Date.now() >= deadline) {
          throw new ConnectionError(`${what}: no connection to RabbitMQ at ${this.info.host}:${this.info.port} within ${Math.round(this.publishTimeoutMs / 1000)} s`, { cause: err });
        }
        await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
      }
    }
  }
}

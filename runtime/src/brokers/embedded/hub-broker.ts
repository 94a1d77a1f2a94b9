import { randomUUID } from 'node:crypto';
import { deadLetterLimits, takenFromList, type DeadLetterLimits } from '../dead-letter.js';
import { isInternalQueue } from '../queue-names.js';
import type { SprigEvent } from '../../events/types.js';
import { decodeEnvelope, encodeEnvelope, type TransportMessage } from '../../protocol/message.js';
import { createLogger, type Logger } from '../../util/log.js';
import { prefetchCount } from '../qos.js';
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
import { EmbeddedBackend } from './embedded-backend.js';
import type { DeliveryItem, HubLink, PublishItem } from './protocol.js';
import type { LeaseStore } from '../lease.js';

interface ClientConsumer {
  queues: string[];
  prefetch: number;
  handler: DeliveryHandler;
}

/**
 * The Broker over a Hub (hub.ts), wherever the Hub runs: in the embedded broker process
 * (EmbeddedBroker, sprig://) or in this one (MemoryBroker, memory://). Priorities 0..9 lower
 * first, dead-letter lists, results, events and control, all through one HubLink.
 */
export class HubBroker implements Broker {
  readonly capabilities: BrokerCapabilities = { priorities: 'lower-first' };
  private readonly consumers = new Map<string, ClientConsumer>();
  private readonly eventHandlers = new Set<(e: SprigEvent) => void>();
  private readonly controlHandlers = new Set<(r: ControlRequest) => void>();
  private pubItems: PublishItem[] = [];
  private pubWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private acks: string[] = [];
  private readonly ackFlights = new Set<Promise<unknown>>();
  private events: SprigEvent[] = [];
  /** Bumped on every disconnect: deliveries of an older epoch were requeued by the Hub. */
  private epoch = 0;
  private readonly epochOf = new WeakMap<Delivery, number>();
  private readonly log: Logger;
  private readonly deadLetter: DeadLetterLimits;

  constructor(
    readonly kind: 'embedded' | 'memory',
    readonly displayUrl: string,
    protected readonly conn: HubLink,
    deadLetter?: Partial<DeadLetterLimits>,
  ) {
    this.deadLetter = deadLetterLimits(deadLetter);
    this.log = createLogger(`sprig.${kind}`);
    this.conn.onPush((f) => {
      if (f.push === 'deliver') this.onDeliver(f.items);
      else if (f.push === 'events') for (const e of f.events) for (const h of this.eventHandlers) h(e);
      else for (const h of this.controlHandlers) h(f.request);
    });
    // Deliveries from before a disconnect were requeued by the broker: they are stale.
    this.conn.on('disconnect', () => void this.epoch++);
    this.conn.onOpen(() => {
      for (const [consumerId, c] of this.consumers) {
        void this.conn.request('consume', { consumerId, queues: c.queues, prefetch: c.prefetch }, 'drop').catch(() => undefined);
      }
      if (this.eventHandlers.size > 0) void this.conn.request('subscribeEvents', { on: true }, 'drop').catch(() => undefined);
      if (this.controlHandlers.size > 0) void this.conn.request('subscribeControl', { on: true }, 'drop').catch(() => undefined);
    });
  }

  isStale(delivery: Delivery): boolean {
    const e = this.epochOf.get(delivery);
    return e !== undefined && e !== this.epoch;
  }

  connect(): Promise<void> {
    return this.conn.connect();
  }

  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    this.consumers.clear();
    await this.conn.close();
  }

  on(event: 'reconnect' | 'disconnect', listener: () => void): void {
    this.conn.on(event, listener);
  }

  publish(queue: string, message: TransportMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      // Publishes of one tick share a frame (and, server-side, one fdatasync).
      if (this.pubItems.length === 0) queueMicrotask(() => this.sendPublishes());
      this.pubItems.push({ queue, priority: message.properties.priority ?? 0, raw: encodeEnvelope(message) });
      this.pubWaiters.push({ resolve, reject });
    });
  }

  async publishBatch(items: ReadonlyArray<{ queue: string; message: TransportMessage }>): Promise<void> {
    await Promise.all(items.map(({ queue, message }) => this.publish(queue, message)));
  }

  /** Put raw bytes on a queue (tests: garbage, foreign envelopes). */
  async injectRaw(queue: string, raw: string, priority = 0): Promise<void> {
    await this.conn.request('publish', { items: [{ queue, priority, raw }] });
  }

  private sendPublishes(): void {
    const items = this.pubItems;
    const waiters = this.pubWaiters;
    this.pubItems = [];
    this.pubWaiters = [];
    this.conn.request('publish', { items }).then(
      () => waiters.forEach((w) => w.resolve()),
      (err: Error) => waiters.forEach((w) => w.reject(err)),
    );
  }

  async consume(queues: readonly string[], prefetch: number, onDelivery: DeliveryHandler): Promise<Consumer> {
    const consumerId = randomUUID();
    const c: ClientConsumer = { queues: [...queues], prefetch: prefetchCount(prefetch), handler: onDelivery };
    this.consumers.set(consumerId, c);
    await this.conn.request('consume', { consumerId, queues: c.queues, prefetch: c.prefetch }, 'drop');
    return {
      setPrefetch: (n) => {
        c.prefetch = prefetchCount(n);
        this.conn.notify('setPrefetch', { consumerId, prefetch: c.prefetch });
      },
      cancel: async () => {
        if (!this.consumers.delete(consumerId)) return;
        await this.conn.request('cancel', { consumerId }, 'drop');
      },
    };
  }

  private onDeliver(items: DeliveryItem[]): void {
    for (const it of items) {
      const c = this.consumers.get(it.c);
      if (!c) {
        // Crossed a cancel on the wire: hand it back rather than hold it until the connection closes.
        void this.conn.request('reject', { tag: it.tag, requeue: true }, 'drop').catch(() => undefined);
        continue;
      }
      let message: TransportMessage | undefined;
      let error: Error | undefined;
      try {
        message = decodeEnvelope(it.raw);
      } catch (err) {
        error = err as Error;
      }
      try {
        const d: Delivery = { tag: it.tag, queue: it.queue, message, error, raw: it.raw, redelivered: it.redelivered };
        this.epochOf.set(d, this.epoch);
        c.handler(d);
      } catch (err) {
        // A throwing handler must not take the socket's message loop (and the other deliveries) down.
        this.log.error(`delivery handler threw: ${(err as Error).message}`);
      }
    }
  }

  ack(delivery: Delivery): void {
    if (this.acks.length === 0) queueMicrotask(() => this.sendAcks());
    this.acks.push(delivery.tag);
  }

  private sendAcks(): void {
    const tags = this.acks;
    this.acks = [];
    // While disconnected the broker has already put these back (redelivered): nothing to ack.
    if (tags.length === 0 || !this.conn.isOpen) return;
    const p = this.conn.request('ack', { tags }, 'drop').catch(() => undefined);
    this.ackFlights.add(p);
    void p.finally(() => this.ackFlights.delete(p));
  }

  async reject(delivery: Delivery, requeue: boolean, reason?: string): Promise<void> {
    if (!this.conn.isOpen) return; // already requeued by the broker when the connection dropped
    await this.conn.request('reject', { tag: delivery.tag, requeue, reason, ...this.deadLetter }, 'drop');
  }

  async flush(): Promise<void> {
    this.sendAcks();
    await Promise.all([...this.ackFlights]);
  }

  purge(queue: string): Promise<number> {
    return this.conn.request('purge', { queue });
  }

  queueLength(queue: string): Promise<number> {
    return this.conn.request('queueLength', { queue });
  }

  deadLetterLength(queue: string): Promise<number> {
    return this.conn.request('queueLength', { queue: deadLetterQueueName(queue) });
  }

  async listQueues(): Promise<string[]> {
    return (await this.conn.request('listQueues', {})).filter((q) => !isInternalQueue(q));
  }

  queueStats(queue: string): Promise<BrokerQueueStats> {
    return this.conn.request('queueStats', { queue });
  }

  async moveDeadLetter(queue: string, decide: (t: TakenDeadLetter) => 'requeue' | 'keep'): Promise<TakenDeadLetter | undefined> {
    const got = await this.conn.request('takeDeadLetter', { queue });
    if (!got) return undefined;
    const taken = takenFromList(got.raw, decodeEnvelope);
    if (decide(taken) === 'requeue') {
      await this.conn.request('requeueDeadLetter', { queue, tag: got.tag, raw: taken.entry.raw as string, priority: taken.message?.properties.priority ?? 0 });
    }
    return taken;
  }

  publishEvent(event: SprigEvent): void {
    if (this.events.length === 0) {
      queueMicrotask(() => {
        const events = this.events;
        this.events = [];
        this.conn.notify('eventPublish', { events });
      });
    }
    this.events.push(event);
  }

  subscribeEvents(handler: (event: SprigEvent) => void): Promise<() => Promise<void>> {
    return this.subscribe('subscribeEvents', this.eventHandlers, handler);
  }

  /** The first handler subscribes this connection, the last one gone unsubscribes it. */
  private async subscribe<T>(op: 'subscribeEvents' | 'subscribeControl', handlers: Set<(v: T) => void>, handler: (v: T) => void): Promise<() => Promise<void>> {
    handlers.add(handler);
    if (handlers.size === 1) await this.conn.request(op, { on: true }, 'drop');
    return async () => {
      if (!handlers.delete(handler) || handlers.size > 0) return;
      await this.conn.request(op, { on: false }, 'drop');
    };
  }

  leases(): LeaseStore {
    const conn = this.conn;
    return {
      acquire: (name, holder, ttlMs) => conn.request('leaseAcquire', { name, holder, ttlMs }),
      release: async (name, holder) => void (await conn.request('leaseRelease', { name, holder }, 'drop')),
      read: (name) => conn.request('leaseRead', { name }),
      // 'fail', not 'resend': the scheduler reads the state again and decides (a resend would be a
      // conflict anyway, the commit being compare-and-set).
      commit: (name, holder, changes, publish) =>
        conn.request(
          'leaseCommit',
          { name, holder, changes: [...changes], items: publish.map(({ queue, message }) => ({ queue, priority: message.properties.priority ?? 0, raw: encodeEnvelope(message) })) },
          'fail',
        ),
    };
  }

  createBackend(): EmbeddedBackend {
    return new EmbeddedBackend(this.conn);
  }

  async broadcast(request: ControlRequest): Promise<void> {
    await this.conn.request('controlBroadcast', { request });
  }

  subscribeControl(handler: (request: ControlRequest) => void): Promise<() => Promise<void>> {
    return this.subscribe('subscribeControl', this.controlHandlers, handler);
  }

  async reply(replyTo: { exchange: string; routing_key: string }, _ticket: string, body: unknown): Promise<void> {
    await this.conn.request('replyPush', { key: replyTo.routing_key, body });
  }

  collectReplies(replyTo: string, timeoutMs: number, expected?: number): Promise<unknown[]> {
    return this.conn.request('replyCollect', expected === undefined ? { key: replyTo, timeoutMs } : { key: replyTo, timeoutMs, expected });
  }
}

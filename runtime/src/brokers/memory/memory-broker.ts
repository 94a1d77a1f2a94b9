import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { decodeEnvelope, encodeEnvelope, type TransportMessage } from '../../protocol/message.js';
import { PriorityFifo } from '../priority-queue.js';
import { MemoryBackend, ResultStore } from '../../backends/memory.js';
import type { SprigEvent } from '../../events/types.js';
import {
  deadLetterQueueName,
  type Broker,
  type BrokerCapabilities,
  type Consumer,
  type ControlRequest,
  type Delivery,
  type DeliveryHandler,
} from '../types.js';
import { setLongTimeout } from '../../util/timers.js';

interface Stored {
  tag: string;
  raw: string;
  priority: number;
  redelivered: boolean;
}

interface MemConsumer {
  queues: readonly string[];
  prefetch: number;
  held: number;
  handler: DeliveryHandler;
  active: boolean;
}

/** One in-process "server": every MemoryBroker with the same name shares it. */
class MemoryHub {
  readonly queues = new Map<string, PriorityFifo<Stored>>();
  readonly unacked = new Map<string, { queue: string; stored: Stored; consumer: MemConsumer }>();
  readonly consumers: MemConsumer[] = [];
  readonly bus = new EventEmitter();
  readonly results = new ResultStore();
  readonly replies = new Map<string, unknown[]>();
  private scheduled = false;

  constructor() {
    this.bus.setMaxListeners(0);
  }

  queue(name: string): PriorityFifo<Stored> {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = new PriorityFifo()));
    return q;
  }

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const c of this.consumers) {
      while (c.active && c.held < c.prefetch) {
        let got: { queue: string; stored: Stored } | undefined;
        for (const name of c.queues) {
          const s = this.queues.get(name)?.shift();
          if (s) {
            got = { queue: name, stored: s };
            break;
          }
        }
        if (!got) break;
        c.held++;
        this.unacked.set(got.stored.tag, { ...got, consumer: c });
        let message: TransportMessage | undefined;
        let error: Error | undefined;
        try {
          message = decodeEnvelope(got.stored.raw);
        } catch (err) {
          error = err as Error;
        }
        c.handler({
          tag: got.stored.tag,
          queue: got.queue,
          message,
          error,
          raw: got.stored.raw,
          redelivered: got.stored.redelivered,
        });
      }
    }
  }
}

const hubs = new Map<string, MemoryHub>();

/**
 * `memory://[name]` — an in-process broker for unit tests and embedding. Same contract and
 * semantics as the others (prefetch, ack, requeue, dead-letter list, events, results).
 */
export class MemoryBroker implements Broker {
  readonly kind = 'memory' as const;
  readonly capabilities: BrokerCapabilities = {
    priorities: 'lower-first',
    deadLetter: 'list',
    results: true,
    events: true,
    control: true,
  };
  readonly displayUrl: string;
  private readonly hub: MemoryHub;
  private readonly mine = new Set<MemConsumer>();
  private readonly unsubs: Array<() => void> = [];

  constructor(url = 'memory://') {
    this.displayUrl = url;
    const name = url.replace(/^memory:\/\//, '') || 'default';
    let hub = hubs.get(name);
    if (!hub) hubs.set(name, (hub = new MemoryHub()));
    this.hub = hub;
  }

  async connect(): Promise<void> {}

  async close(): Promise<void> {
    for (const c of this.mine) await this.cancelConsumer(c);
    for (const u of this.unsubs.splice(0)) u();
  }

  private cancelConsumer(c: MemConsumer): void {
    c.active = false;
    const i = this.hub.consumers.indexOf(c);
    if (i >= 0) this.hub.consumers.splice(i, 1);
    // Like a dropped connection: what the consumer held goes back to its queue.
    for (const [tag, u] of this.hub.unacked) {
      if (u.consumer !== c) continue;
      this.hub.unacked.delete(tag);
      this.hub.queue(u.queue).unshift({ ...u.stored, redelivered: true }, u.stored.priority);
    }
    this.mine.delete(c);
    this.hub.schedule();
  }

  /** Put raw bytes on a queue (tests: garbage, foreign envelopes). */
  injectRaw(queue: string, raw: string, priority = 0): void {
    this.hub.queue(queue).push({ tag: randomUUID(), raw, priority, redelivered: false }, priority);
    this.hub.schedule();
  }

  async publish(queue: string, message: TransportMessage): Promise<void> {
    const priority = message.properties.priority ?? 0;
    this.injectRaw(queue, encodeEnvelope(message), priority);
  }

  async publishBatch(items: ReadonlyArray<{ queue: string; message: TransportMessage }>): Promise<void> {
    for (const { queue, message } of items) await this.publish(queue, message);
  }

  async consume(queues: readonly string[], prefetch: number, onDelivery: DeliveryHandler): Promise<Consumer> {
    const c: MemConsumer = { queues, prefetch: Math.max(1, prefetch), held: 0, handler: onDelivery, active: true };
    this.hub.consumers.push(c);
    this.mine.add(c);
    this.hub.schedule();
    return {
      setPrefetch: (n) => {
        c.prefetch = Math.max(1, n);
        this.hub.schedule();
      },
      cancel: async () => {
        c.active = false;
        const i = this.hub.consumers.indexOf(c);
        if (i >= 0) this.hub.consumers.splice(i, 1);
      },
    };
  }

  private take(d: Delivery) {
    const u = this.hub.unacked.get(d.tag);
    if (!u) return undefined;
    this.hub.unacked.delete(d.tag);
    u.consumer.held--;
    this.hub.schedule();
    return u;
  }

  ack(d: Delivery): void {
    this.take(d);
  }

  async reject(d: Delivery, requeue: boolean, reason?: string): Promise<void> {
    const u = this.take(d);
    if (!u) return;
    if (requeue) this.hub.queue(u.queue).unshift({ ...u.stored, redelivered: true }, u.stored.priority);
    else
      this.hub
        .queue(deadLetterQueueName(u.queue))
        .push({ ...u.stored, raw: JSON.stringify({ reason: reason ?? 'rejected', raw: u.stored.raw }) });
  }

  async flush(): Promise<void> {}

  async purge(queue: string): Promise<number> {
    return this.hub.queues.get(queue)?.clear() ?? 0;
  }

  async queueLength(queue: string): Promise<number> {
    return this.hub.queues.get(queue)?.length ?? 0;
  }

  async deadLetterLength(queue: string): Promise<number> {
    return this.queueLength(deadLetterQueueName(queue));
  }

  publishEvent(event: SprigEvent): void {
    this.hub.bus.emit('event', event);
  }

  async subscribeEvents(handler: (event: SprigEvent) => void): Promise<() => Promise<void>> {
    this.hub.bus.on('event', handler);
    const off = () => void this.hub.bus.off('event', handler);
    this.unsubs.push(off);
    return async () => off();
  }

  createBackend(): MemoryBackend {
    return new MemoryBackend(this.hub.results);
  }

  async broadcast(request: ControlRequest): Promise<void> {
    this.hub.bus.emit('control', request);
  }

  async subscribeControl(handler: (request: ControlRequest) => void): Promise<() => Promise<void>> {
    this.hub.bus.on('control', handler);
    const off = () => void this.hub.bus.off('control', handler);
    this.unsubs.push(off);
    return async () => off();
  }

  async reply(replyTo: { exchange: string; routing_key: string }, _ticket: string, body: unknown): Promise<void> {
    this.hub.bus.emit(`reply:${replyTo.routing_key}`, body);
  }

  collectReplies(replyTo: string, timeoutMs: number, expected?: number): Promise<unknown[]> {
    return new Promise((resolve) => {
      const out: unknown[] = [];
      const done = () => {
        this.hub.bus.off(`reply:${replyTo}`, on);
        clearTimeout(timer);
        resolve(out);
      };
      const on = (b: unknown) => {
        out.push(b);
        if (expected !== undefined && out.length >= expected) done();
      };
      this.hub.bus.on(`reply:${replyTo}`, on);
      const timer = setLongTimeout(done, timeoutMs);
    });
  }
}

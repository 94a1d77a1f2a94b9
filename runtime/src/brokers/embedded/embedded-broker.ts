import { randomUUID } from 'node:crypto';
import { ConfigError } from '../../errors.js';
import type { SprigEvent } from '../../events/types.js';
import { decodeEnvelope, encodeEnvelope, type TransportMessage } from '../../protocol/message.js';
import { createLogger, type Logger } from '../../util/log.js';
import { findProjectDir } from '../../util/paths.js';
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
import { BrokerConnection } from './client.js';
import { ensureEmbeddedBroker, readBrokerInfo, type BrokerEndpoint } from './discovery.js';
import { EmbeddedBackend } from './embedded-backend.js';
import type { DeliveryItem, PublishItem } from './protocol.js';

interface ClientConsumer {
  queues: string[];
  prefetch: number;
  handler: DeliveryHandler;
}

const DEFAULT_PUBLISH_TIMEOUT_MS = 30_000;

/** Where a `sprig://` URL points: an explicit host:port(+token), or the project's discovered broker. */
export function parseEmbeddedUrl(url: string): { host?: string; port?: number; token?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new ConfigError(`invalid embedded broker URL ${JSON.stringify(url.replace(/token=[^&]*/, 'token=***'))}`, { cause: err });
  }
  if (u.protocol !== 'sprig:') throw new ConfigError(`not an embedded broker URL (sprig://): ${u.protocol}//`);
  const token = u.searchParams.get('token') ?? undefined;
  if (!u.hostname) return { token };
  const port = Number(u.port);
  if (!Number.isInteger(port) || port <= 0) {
    throw new ConfigError(`embedded broker URL sprig://${u.hostname} needs a port (sprig://127.0.0.1:PORT?token=...)`);
  }
  return { host: u.hostname, port, token };
}

/**
 * `sprig://` — the embedded broker: discovers (or autostarts) the project's broker process; or
 * `sprig://127.0.0.1:PORT?token=...` for a given one. Durable publishes, priorities 0..9 lower
 * first, dead-letter lists, results, events and control on one WebSocket.
 */
export class EmbeddedBroker implements Broker {
  readonly kind = 'embedded' as const;
  readonly capabilities: BrokerCapabilities = {
    priorities: 'lower-first',
    deadLetter: 'list',
    results: true,
    events: true,
    control: true,
  };
  readonly displayUrl: string;
  private readonly conn: BrokerConnection;
  private readonly consumers = new Map<string, ClientConsumer>();
  private readonly eventHandlers = new Set<(e: SprigEvent) => void>();
  private readonly controlHandlers = new Set<(r: ControlRequest) => void>();
  private pubItems: PublishItem[] = [];
  private pubWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private acks: string[] = [];
  private readonly ackFlights = new Set<Promise<unknown>>();
  private events: SprigEvent[] = [];
  private readonly log: Logger;

  constructor(url = 'sprig://', opts: BrokerOptions = {}) {
    const target = parseEmbeddedUrl(url);
    const log = (this.log = createLogger('sprig.embedded'));
    let resolve: () => Promise<BrokerEndpoint>;
    if (target.host !== undefined && target.port !== undefined) {
      const { host, port } = target;
      const projectDir = opts.projectDir ?? findProjectDir();
      this.displayUrl = `sprig://${host}:${port}${target.token ? '?token=***' : ''}`;
      resolve = async () => {
        // No token in the URL: take it from the project's broker.json when that describes this port.
        const token = target.token ?? (readBrokerInfo(projectDir)?.port === port ? readBrokerInfo(projectDir)?.token : undefined);
        if (!token) throw new ConfigError(`${this.displayUrl} has no token; use sprig://${host}:${port}?token=...`);
        return { host, port, token };
      };
    } else {
      const projectDir = opts.projectDir ?? findProjectDir();
      this.displayUrl = 'sprig://';
      resolve = () => ensureEmbeddedBroker({ projectDir, autostart: !opts.noAutostart });
    }
    this.conn = new BrokerConnection({ resolve, waitTimeoutMs: opts.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS, log });
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

  private epoch = 0;
  private readonly epochOf = new WeakMap<Delivery, number>();

  isStale(delivery: Delivery): boolean {
    const e = this.epochOf.get(delivery);
    return e !== undefined && e !== this.epoch;
  }

  /** The port of the broker this client is connected to (tests, `sprig status`). */
  get port(): number | undefined {
    return this.conn.port;
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
    const c: ClientConsumer = { queues: [...queues], prefetch: Math.max(1, prefetch), handler: onDelivery };
    this.consumers.set(consumerId, c);
    await this.conn.request('consume', { consumerId, queues: c.queues, prefetch: c.prefetch }, 'drop');
    return {
      setPrefetch: (n) => {
        c.prefetch = Math.max(1, n);
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
    await this.conn.request('reject', { tag: delivery.tag, requeue, reason }, 'drop');
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

  async subscribeEvents(handler: (event: SprigEvent) => void): Promise<() => Promise<void>> {
    this.eventHandlers.add(handler);
    if (this.eventHandlers.size === 1) await this.conn.request('subscribeEvents', { on: true }, 'drop');
    return async () => {
      if (!this.eventHandlers.delete(handler) || this.eventHandlers.size > 0) return;
      await this.conn.request('subscribeEvents', { on: false }, 'drop');
    };
  }

  createBackend(): EmbeddedBackend {
    return new EmbeddedBackend(this.conn);
  }

  async broadcast(request: ControlRequest): Promise<void> {
    await this.conn.request('controlBroadcast', { request });
  }

  async subscribeControl(handler: (request: ControlRequest) => void): Promise<() => Promise<void>> {
    this.controlHandlers.add(handler);
    if (this.controlHandlers.size === 1) await this.conn.request('subscribeControl', { on: true }, 'drop');
    return async () => {
      if (!this.controlHandlers.delete(handler) || this.controlHandlers.size > 0) return;
      await this.conn.request('subscribeControl', { on: false }, 'drop');
    };
  }

  async reply(replyTo: { exchange: string; routing_key: string }, _ticket: string, body: unknown): Promise<void> {
    await this.conn.request('replyPush', { key: replyTo.routing_key, body });
  }

  collectReplies(replyTo: string, timeoutMs: number, expected?: number): Promise<unknown[]> {
    return this.conn.request('replyCollect', expected === undefined ? { key: replyTo, timeoutMs } : { key: replyTo, timeoutMs, expected });
  }
}

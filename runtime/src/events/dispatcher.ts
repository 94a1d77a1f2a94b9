import { hostname as osHostname } from 'node:os';
import type { Broker } from '../brokers/types.js';
import type { TransportMessage } from '../protocol/message.js';
import type { EventPayload, SprigEvent, SprigEventMap, SprigEventType } from './types.js';

/** Celery's timezone offset convention: hours WEST of UTC (time.timezone // 3600). */
export function utcOffsetHours(): number {
  return Math.round(new Date().getTimezoneOffset() / 60);
}

/**
 * Sends monitoring events with Celery's common fields (hostname, pid, Lamport clock, timestamp,
 * utcoffset) through the broker.
 */
export class EventDispatcher {
  private clockValue = 0;
  enabled = true;
  /** Local listeners see every event this process sends (metrics, status bar, tests). */
  private readonly listeners = new Set<(e: SprigEvent) => void>();

  constructor(
    private readonly broker: Broker,
    readonly hostname: string = `sprig@${osHostname()}`,
  ) {}

  /** The Lamport clock (Celery's `clock`). */
  get clock(): number {
    return this.clockValue;
  }

  /** False when nothing would see an event (no -E, no local listener): callers skip building it. */
  get active(): boolean {
    return this.enabled || this.listeners.size > 0;
  }

  onSend(listener: (e: SprigEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Merge a clock seen from another node (Lamport). */
  adjustClock(other: number): void {
    if (other > this.clockValue) this.clockValue = other;
  }

  send<T extends SprigEventType>(payload: EventPayload<T>): SprigEventMap[T] {
    const event = {
      hostname: this.hostname,
      pid: process.pid,
      clock: ++this.clockValue,
      timestamp: Date.now() / 1000,
      utcoffset: utcOffsetHours(),
      ...payload,
    } as unknown as SprigEventMap[T];
    for (const l of this.listeners) l(event);
    if (this.enabled) this.broker.publishEvent(event);
    return event;
  }

  taskSent(message: TransportMessage, queue: string): void {
    const h = message.headers;
    this.send({
      type: 'task-sent',
      uuid: h.id as string,
      name: h.task as string,
      args: (h.argsrepr as string) ?? '()',
      kwargs: (h.kwargsrepr as string) ?? '{}',
      retries: (h.retries as number) ?? 0,
      eta: (h.eta as string | null) ?? null,
      expires: (h.expires as string | null) ?? null,
      queue,
      exchange: message.properties.delivery_info?.exchange ?? '',
      routing_key: queue,
      root_id: (h.root_id as string | null) ?? null,
      parent_id: (h.parent_id as string | null) ?? null,
    });
  }
}

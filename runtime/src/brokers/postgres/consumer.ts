import { decodeEnvelope, type TransportMessage } from '../../protocol/message.js';
import { prefetchCount, type PrefetchWindow } from '../qos.js';
import type { Consumer, Delivery, DeliveryHandler } from '../types.js';

/** Largest batch one fetch takes. */
export const MAX_FETCH = 500;

export interface FetchedRow {
  id: string;
  queue: string;
  body: string;
  deliveries: number;
  lease: string;
  priority: number;
}

/** What a consumer needs from its broker. */
export interface PostgresConsumerHost {
  /** Fetch up to `n` visible messages of `queues` under a fresh lease; [] while the holder session is down. */
  fetch(queues: readonly string[], n: number): Promise<FetchedRow[]>;
  /** Milliseconds until the next message of `queues` becomes visible (an ETA or a lease running out), or undefined. */
  nextVisibleIn(queues: readonly string[]): Promise<number | undefined>;
  hold(consumer: PostgresConsumer, delivery: Delivery, row: FetchedRow): void;
  readonly pollMs: number;
}

/**
 * Fetch in batches (up to the free prefetch slots, at most half the window so the next batch is on
 * its way while this one runs), then sleep until a NOTIFY names one of our queues, the next ETA
 * or lease expiry is due, or the slow safety poll fires. No polling loop while idle.
 */
export class PostgresConsumer implements Consumer, PrefetchWindow {
  held = 0;
  prefetch: number;
  active = true;
  private refillBatch = 1;
  private fetching = false;
  private again = false;
  private pumpScheduled = false;
  private timer?: NodeJS.Timeout;
  private readonly watched: Set<string>;

  constructor(
    private readonly host: PostgresConsumerHost,
    readonly queues: readonly string[],
    prefetch: number,
    private readonly handler: DeliveryHandler,
  ) {
    this.prefetch = prefetchCount(prefetch);
    this.watched = new Set(queues);
  }

  watches(queue: string): boolean {
    return this.watched.has(queue);
  }

  setPrefetch(n: number): void {
    this.prefetch = prefetchCount(n);
    this.schedulePump();
  }

  setRefillBatch(n: number): void {
    this.refillBatch = Math.max(1, Math.floor(n));
    this.schedulePump();
  }

  async cancel(): Promise<void> {
    this.active = false;
    clearTimeout(this.timer);
  }

  schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  pump(): void {
    if (!this.active) return;
    if (this.fetching) {
      this.again = true;
      return;
    }
    const want = Math.min(this.prefetch - this.held, MAX_FETCH, Math.ceil(this.prefetch / 2));
    if (want <= 0 || (want < this.refillBatch && this.held > 0)) return;
    this.fetching = true;
    this.again = false;
    clearTimeout(this.timer);
    this.host.fetch(this.queues, want).then(
      async (rows) => {
        this.deliver(rows);
        if (this.active && rows.length < want && !this.again) await this.sleepUntilDue();
        this.fetching = false;
        if (this.active && (rows.length >= want || this.again)) this.pump();
      },
      () => {
        this.fetching = false;
        if (!this.active) return;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.pump(), 250);
      },
    );
  }

  private async sleepUntilDue(): Promise<void> {
    let ms = this.host.pollMs;
    try {
      const next = await this.host.nextVisibleIn(this.queues);
      if (next !== undefined) ms = Math.min(ms, Math.max(5, next + 5));
    } catch {
      ms = 250;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.pump(), ms);
  }

  private deliver(rows: FetchedRow[]): void {
    rows.sort((a, b) => b.priority - a.priority || Number(BigInt(a.id) - BigInt(b.id)));
    for (const row of rows) {
      let message: TransportMessage | undefined;
      let error: Error | undefined;
      try {
        message = decodeEnvelope(row.body);
      } catch (err) {
        error = err as Error;
      }
      const delivery: Delivery = { tag: `${row.id}:${row.lease}`, queue: row.queue, message, error, raw: row.body, redelivered: row.deliveries > 1 };
      this.host.hold(this, delivery, row);
      try {
        this.handler(delivery);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}

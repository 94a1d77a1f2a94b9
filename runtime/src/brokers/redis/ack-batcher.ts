import type { Redis } from 'ioredis';
import { UNACKED_INDEX_KEY, UNACKED_KEY } from './keys.js';

/**
 * Redis acks, batched. The acks of one event-loop turn go out as one HDEL+ZREM pipeline, or,
 * when a consumer is about to fetch, ride along in the fetch script: one round trip instead of
 * two. While a fetch is in flight, new acks wait for the next one (or for its end).
 */
export class RedisAckBatcher {
  private pending: string[] = [];
  private fetches = 0;
  private readonly writes = new Set<Promise<unknown>>();

  constructor(
    private readonly client: Redis,
    /** Bounds flush()'s wait for a lost connection. */
    private readonly bound: (p: Promise<unknown>, what: string) => Promise<unknown>,
  ) {}

  add(tag: string): void {
    this.pending.push(tag);
    // setImmediate, not a microtask: acks from many pool-child messages in one event-loop turn go
    // out as one pipeline.
    if (this.pending.length === 1) setImmediate(() => this.settle());
  }

  /**
   * Run a fetch that carries the pending acks (`fetch` puts them in its script call). If the
   * fetch fails, its acks are written the usual way.
   */
  carry<T>(fetch: (acks: string[]) => Promise<T>): Promise<T> {
    const acks = this.pending;
    this.pending = [];
    this.fetches++;
    const run = fetch(acks);
    if (acks.length) this.track(run.catch(() => this.retry(acks)));
    // Settles after the consumer's own callbacks on `run`: a fetch it sends from there carries what came in meanwhile.
    const ended = () => {
      this.fetches--;
      queueMicrotask(() => this.settle());
    };
    run.then(ended, ended);
    return run;
  }

  /** Wait until every ack so far is written. */
  async flush(): Promise<void> {
    this.write();
    while (this.writes.size) await this.bound(Promise.all([...this.writes]), 'ack');
  }

  /** Write the pending acks now, unless a fetch in flight will (it carries them, or settles after). */
  private settle(): void {
    if (this.fetches === 0) this.write();
  }

  private retry(tags: string[]): void {
    const first = this.pending.length === 0;
    this.pending.push(...tags);
    if (first) setImmediate(() => this.write());
  }

  private write(): void {
    const tags = this.pending;
    if (!tags.length) return;
    this.pending = [];
    this.track(
      this.client
        .pipeline()
        .hdel(UNACKED_KEY, ...tags)
        .zrem(UNACKED_INDEX_KEY, ...tags)
        .exec()
        .catch(() => undefined),
    );
  }

  private track(p: Promise<unknown>): void {
    this.writes.add(p);
    void p.finally(() => this.writes.delete(p));
  }
}

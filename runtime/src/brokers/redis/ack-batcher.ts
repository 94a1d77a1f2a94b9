import type { RedisClient } from './connection.js';
import { KOMBU_LAYOUT, type KeyLayout } from './keys.js';

/**
 * Redis acks, batched. The acks of one event-loop turn go out as one HDEL+ZREM pipeline, or,
 * when a consumer is about to fetch, ride along in the fetch script: one round trip instead of
 * two. While a fetch is in flight, new acks wait for the next one (or for its end). On a cluster
 * each queue's unacked hash is in its own slot: acks go out per queue and never ride along.
 */
export class RedisAckBatcher {
  private pending: Array<{ tag: string; queue: string }> = [];
  private fetches = 0;
  private readonly writes = new Set<Promise<unknown>>();

  constructor(
    private readonly client: RedisClient,
    /** Bounds flush()'s wait for a lost connection. */
    private readonly bound: (p: Promise<unknown>, what: string) => Promise<unknown>,
    private readonly layout: KeyLayout = KOMBU_LAYOUT,
  ) {}

  /** `queue`: where it was fetched from (the cluster layout keeps unacked per queue). */
  add(tag: string, queue = ''): void {
    this.pending.push({ tag, queue });
    // setImmediate, not a microtask: acks from many pool-child messages in one event-loop turn go
    // out as one pipeline.
    if (this.pending.length === 1) setImmediate(() => this.settle());
  }

  /**
   * Run a fetch that carries the pending acks (`fetch` puts them in its script call). If the
   * fetch fails, its acks are written the usual way.
   */
  carry<T>(fetch: (acks: string[]) => Promise<T>): Promise<T> {
    if (this.layout.cluster) return fetch([]);
    const acks = this.pending;
    this.pending = [];
    this.fetches++;
    const run = fetch(acks.map((a) => a.tag));
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

  private retry(tags: Array<{ tag: string; queue: string }>): void {
    const first = this.pending.length === 0;
    this.pending.push(...tags);
    if (first) setImmediate(() => this.write());
  }

  private write(): void {
    const acks = this.pending;
    if (!acks.length) return;
    this.pending = [];
    const byHash = new Map<string, { queue: string; tags: string[] }>();
    for (const a of acks) {
      const key = this.layout.unacked(a.queue);
      let g = byHash.get(key);
      if (!g) byHash.set(key, (g = { queue: a.queue, tags: [] }));
      g.tags.push(a.tag);
    }
    for (const { queue, tags } of byHash.values()) {
      this.track(
        this.client
          .pipeline()
          .hdel(this.layout.unacked(queue), ...tags)
          .zrem(this.layout.unackedIndex(queue), ...tags)
          .exec()
          .catch(() => undefined),
      );
    }
  }

  private track(p: Promise<unknown>): void {
    this.writes.add(p);
    void p.finally(() => this.writes.delete(p));
  }
}

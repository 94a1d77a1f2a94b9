import type { RedisClient } from './connection.js';
import { KOMBU_LAYOUT, type KeyLayout } from './keys.js';

/**
 * Redis acks, batched. The acks of one event-loop turn go out as one HDEL+ZREM pipeline, or,
 * when a consumer is about to fetch, ride along in the fetch script: one round trip instead of
 * two. While a fetch on their `unacked` hash is in flight, new acks wait for the next one (or for
 * its end). On a cluster each queue's unacked hash is in its own slot: acks go out per queue, and
 * ride along only with a fetch of their own queue.
 */
export class RedisAckBatcher {
  private pending: Array<{ tag: string; queue: string }> = [];
  /** Fetches in flight, per unacked hash. */
  private readonly fetches = new Map<string, number>();
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
   * Run a fetch of `queue` that carries the pending acks of its unacked hash (`fetch` puts them in
   * its script call). If the fetch fails, its acks are written the usual way.
   */
  carry<T>(queue: string, fetch: (acks: string[]) => Promise<T>): Promise<T> {
    const hash = this.layout.unacked(queue);
    const acks = this.pending.filter((a) => this.layout.unacked(a.queue) === hash);
    if (acks.length) this.pending = acks.length === this.pending.length ? [] : this.pending.filter((a) => this.layout.unacked(a.queue) !== hash);
    this.fetches.set(hash, (this.fetches.get(hash) ?? 0) + 1);
    const run = fetch(acks.map((a) => a.tag));
    if (acks.length) this.track(run.catch(() => this.retry(acks)));
    // Settles after the consumer's own callbacks on `run`: a fetch it sends from there carries what came in meanwhile.
    const ended = () => {
      const n = (this.fetches.get(hash) ?? 1) - 1;
      if (n) this.fetches.set(hash, n);
      else this.fetches.delete(hash);
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

  /** Write the pending acks now, but those a fetch in flight on their hash will (it carries them, or settles after). */
  private settle(): void {
    if (this.fetches.size === 0) this.write();
    else if (this.pending.some((a) => !this.fetches.has(this.layout.unacked(a.queue)))) this.write((a) => !this.fetches.has(this.layout.unacked(a.queue)));
  }

  private retry(tags: Array<{ tag: string; queue: string }>): void {
    const first = this.pending.length === 0;
    this.pending.push(...tags);
    if (first) setImmediate(() => this.write());
  }

  /** `which`: only the pending acks it picks (the others stay pending). */
  private write(which?: (a: { tag: string; queue: string }) => boolean): void {
    const acks = which ? this.pending.filter(which) : this.pending;
    if (!acks.length) return;
    this.pending = which ? this.pending.filter((a) => !which(a)) : [];
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

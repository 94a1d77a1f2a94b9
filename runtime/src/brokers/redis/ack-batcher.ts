import { isConnectionError, type RedisClient } from './connection.js';
import { KOMBU_LAYOUT, type KeyLayout } from './keys.js';
import { backoff } from '../../util/resilience.js';

interface PendingAck {
  tag: string;
  queue: string;
  /** Writes of this ack that failed with the connection (HDEL/ZREM are idempotent: it is written again). */
  tries?: number;
}

/**
 * A write that fails with the connection (ioredis aborts a pipeline half-answered when the
 * connection drops) is written again, this many times at most with a jittered backoff (about 10 s in all): an
 * ack lost there would run its task a second time after the visibility timeout.
 */
export const ACK_WRITE_TRIES = 20;

/**
 * Redis acks, batched. The acks of one event-loop turn go out as one HDEL+ZREM pipeline, or,
 * when a consumer is about to fetch, ride along in the fetch script: one round trip instead of
 * two. While a fetch on their `unacked` hash is in flight, new acks wait for the next one (or for
 * its end). On a cluster each queue's unacked hash is in its own slot: acks go out per queue, and
 * ride along only with a fetch of their own queue.
 */
export class RedisAckBatcher {
  private pending: PendingAck[] = [];
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

  /** Write `acks` again after a failed write or fetch (tracked: flush() waits for it). */
  private retry(acks: PendingAck[], delayMs = 0): void {
    this.pending.push(...acks);
    this.track(
      new Promise<void>((resolve) =>
        setTimeout(() => {
          this.write();
          resolve();
        }, delayMs),
      ),
    );
  }

  /** A pipeline of acks failed (or some of its commands did) with the connection: write them again. */
  private failed(tags: string[], queue: string, tries: number): void {
    if (tries >= ACK_WRITE_TRIES) return; // left in unacked: the visibility timeout brings it back
    this.retry(
      tags.map((tag) => ({ tag, queue, tries: tries + 1 })),
      backoff(tries, 50, 1000),
    );
  }

  /** `which`: only the pending acks it picks (the others stay pending). */
  private write(which?: (a: PendingAck) => boolean): void {
    const acks = which ? this.pending.filter(which) : this.pending;
    if (!acks.length) return;
    this.pending = which ? this.pending.filter((a) => !which(a)) : [];
    // Grouped by hash and by how often they were tried (a retried group keeps its count).
    const groups = new Map<string, { queue: string; tries: number; tags: string[] }>();
    for (const a of acks) {
      const key = `${a.tries ?? 0}\0${this.layout.unacked(a.queue)}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { queue: a.queue, tries: a.tries ?? 0, tags: [] }));
      g.tags.push(a.tag);
    }
    for (const { queue, tries, tags } of groups.values()) {
      this.track(
        this.client
          .pipeline()
          .hdel(this.layout.unacked(queue), ...tags)
          .zrem(this.layout.unackedIndex(queue), ...tags)
          .exec()
          .then(
            (res) => {
              if (res?.some(([err]) => err && isConnectionError(err))) this.failed(tags, queue, tries);
            },
            (err: unknown) => {
              if (isConnectionError(err)) this.failed(tags, queue, tries);
            },
          ),
      );
    }
  }

  private track(p: Promise<unknown>): void {
    this.writes.add(p);
    void p.finally(() => this.writes.delete(p));
  }
}

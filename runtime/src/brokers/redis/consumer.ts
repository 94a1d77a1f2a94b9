import type { RedisClient } from './connection.js';
import { decodeEnvelope, type TransportMessage } from '../../protocol/message.js';
import { prefetchCount, type PrefetchWindow, type QoS } from '../qos.js';
import type { Consumer, Delivery, DeliveryHandler } from '../types.js';
import type { RedisAckBatcher } from './ack-batcher.js';
import { fetchGroups, type FetchGroup, type KeyLayout } from './keys.js';
import { runScript } from './scripts.js';

/**
 * Blocking strategy: one dedicated connection per watched list, each parked on
 * `BLMOVE key key RIGHT RIGHT <t>` (same source and destination: it returns once the list is
 * non-empty and leaves it as it was). With more than MAX_WATCHED lists (more than two queues ×
 * four priority steps) only the plain lists are watched this way and the rest are polled every
 * POLL_MS, to keep connections per consumer bounded.
 */
export const MAX_WATCHED = 8;
export const POLL_MS = 100;
/**
 * While parked on its watchers, a consumer still fetches this often: after a Sentinel failover a
 * watcher's blocking command can be lost with its connection, and nothing else would wake it.
 */
export const IDLE_POLL_MS = 1000;
/** A fetch that has not answered in this time is given up on (its messages come back by the visibility timeout). */
export const FETCH_WATCHDOG_MS = 30_000;
const BLOCK_SECONDS = 5;
/** Largest batch of one fetch script call (Lua unpack limit is ~8000 values). */
export const MAX_FETCH = 1000;

/** What a consumer needs from its broker. */
export interface ConsumerHost {
  readonly client: RedisClient;
  newBlockingConnection(): RedisClient;
  /** The broker's held deliveries, with the queue each came from (acks and rejects settle them there). */
  readonly qos: QoS<RedisConsumer, string>;
  /** kombu's key names, or the cluster's hash-tagged ones. */
  readonly layout: KeyLayout;
  /** Fetches carry the pending acks. */
  readonly acks: RedisAckBatcher;
}

interface GroupState extends FetchGroup {
  fetching: boolean;
  /** When its last fetch came back short (its lists were empty), 0 once one came back full. */
  shortAt: number;
}

interface Watcher {
  key: string;
  conn?: RedisClient;
  running: boolean;
  /**
   * The first watcher sends a fetch right behind its BLMOVE on the same connection: Redis runs it
   * the moment the BLMOVE returns, so a message that wakes the consumer comes back with the wake-up
   * (one round trip, not two). Not on a cluster (the fetch's keys and acks go per queue there).
   */
  carries: boolean;
  /** This connection's CLIENT ID (cancel() unblocks it by id): asked once per connection, again after a reconnect. */
  id?: number;
  /** The parked fetch's reply, while it is pending. */
  carried?: Promise<unknown>;
}

/** A parked fetch that came back this long after it was sent has its messages' unacked scores renewed. */
const STALE_SCORE_MS = 1000;
/** cancel() waits this long for a parked fetch it unblocked (its messages are held, then given back). */
const UNBLOCK_WAIT_MS = 2000;
/** ...and this long for one that was no longer blocked (its reply is already on its way). */
const UNBLOCKED_REPLY_MS = 200;

export function isRedelivered(msg: TransportMessage | undefined): boolean {
  if (!msg) return false;
  const p = msg.properties as Record<string, unknown>;
  const di = p.delivery_info as Record<string, unknown> | undefined;
  return p.redelivered === true || di?.redelivered === true || msg.headers.redelivered === true;
}

export class RedisConsumer implements Consumer, PrefetchWindow {
  held = 0;
  prefetch: number;
  active = true;
  private refillBatch = 1;
  /** Window slots asked for by the fetches in flight. */
  private reserved = 0;
  private waiting = false;
  private pumpScheduled = false;
  private retryTimer?: NodeJS.Timeout;
  private pollTimer?: NodeJS.Timeout;
  /**
   * One fetch script call each: every queue together (kombu layout), or one per queue (cluster).
   * On a cluster the groups are fetched concurrently (their queues may be on different masters),
   * at most one fetch in flight per group, the window shared between the groups that have messages.
   */
  private readonly groups: GroupState[];
  /** The group the next pump looks at first (groups take turns at a window too small for all). */
  private turn = 0;
  private readonly watchers: Watcher[];
  private readonly polls: boolean;
  /** Prefetch slots a parked fetch (Watcher.carries) may fill when it runs. */
  private carriedSlots = 0;
  /** See Consumer.setParkBeyond: fetches park ETA messages further away than this (ms). */
  private parkBeyond?: number;
  private onParked: (n: number) => void = () => undefined;

  constructor(
    private readonly host: ConsumerHost,
    readonly queues: readonly string[],
    prefetch: number,
    private readonly handler: DeliveryHandler,
  ) {
    this.prefetch = prefetchCount(prefetch);
    this.groups = fetchGroups(queues, host.layout).map((g) => ({ ...g, fetching: false, shortAt: 0 }));
    const lists = this.groups.flatMap((g) => g.order);
    const watched = lists.length <= MAX_WATCHED ? lists : lists.filter((o) => o.step === 0).slice(0, MAX_WATCHED);
    this.watchers = watched.map((o, i) => ({ key: o.key, running: false, carries: i === 0 && !host.layout.cluster }));
    this.polls = watched.length < lists.length;
  }

  setPrefetch(n: number): void {
    this.prefetch = prefetchCount(n);
    this.schedulePump();
  }

  /** See Consumer.setRefillBatch. */
  setRefillBatch(n: number): void {
    this.refillBatch = Math.max(1, Math.floor(n));
    this.schedulePump();
  }

  /** See Consumer.setParkBeyond. */
  setParkBeyond(ms: number | undefined, parked: (n: number) => void): void {
    this.parkBeyond = ms;
    this.onParked = parked;
  }

  /**
   * The fetch script's park-from (epoch ms, 0: off) for a fetch that runs within `waitMs` of now:
   * an ETA later than this is far enough away however long the fetch waited in Redis.
   */
  private parkFrom(waitMs = 0): number {
    return this.parkBeyond === undefined ? 0 : Date.now() + waitMs + this.parkBeyond;
  }

  async cancel(): Promise<void> {
    this.active = false;
    this.waiting = false;
    clearTimeout(this.retryTimer);
    clearTimeout(this.pollTimer);
    await Promise.all(this.watchers.map((w) => this.unblockCarried(w)));
    for (const w of this.watchers) {
      w.conn?.disconnect();
      w.conn = undefined;
      w.running = false;
    }
  }

  /** Coalesce the many acks of one tick into one fetch (a held delivery was acked or rejected). */
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
    // A parked fetch's slots are set aside too, but it does not count as held: with nothing else
    // held or asked for, a small batch is still fetched (a message on a list it does not watch).
    const free = this.prefetch - this.held - this.reserved - this.carriedSlots;
    if (free <= 0) return;
    const now = Date.now();
    // A group that came back short is asked again after POLL_MS (or at once when a watcher fires).
    const ready = (g: GroupState) => !g.fetching && (g.shortAt === 0 || now - g.shortAt >= POLL_MS);
    const withMessages = this.groups.filter((g) => g.shortAt === 0).length || 1;
    // At most half the window per round of fetches (the next round is then on its way while this
    // batch runs), shared between the groups that have messages.
    const half = Math.ceil(this.prefetch / 2);
    const share = Math.min(MAX_FETCH, Math.ceil(half / withMessages));
    const minBatch = Math.min(this.refillBatch, share);
    let budget = Math.min(free, half);
    for (let i = 0; i < this.groups.length; i++) {
      const g = this.groups[(this.turn + i) % this.groups.length]!;
      if (!ready(g)) continue;
      const want = Math.min(budget, share);
      // Nothing held means nothing will free a slot later: fetch even a small batch now.
      if (want <= 0 || (want < minBatch && this.held + this.reserved > 0)) break;
      budget -= want;
      this.fetch(g, want);
    }
    this.turn = (this.turn + 1) % this.groups.length;
  }

  /** One fetch script call for `g` (its acks ride along), `want` window slots reserved meanwhile. */
  private fetch(g: GroupState, want: number): void {
    g.fetching = true;
    this.reserved += want;
    this.waiting = false;
    const now = (Date.now() / 1000).toFixed(4);
    const run = this.host.acks.carry(g.order[0]?.queue ?? '', (acks) => runScript(this.host.client, 'fetch', g.keys, [want, now, this.parkFrom(), ...g.rkArgs, ...acks]));
    let settled = false;
    const done = () => {
      settled = true;
      g.fetching = false;
      this.reserved -= want;
    };
    const watchdog = setTimeout(() => {
      if (settled || !this.active) return;
      done();
      this.pump();
    }, FETCH_WATCHDOG_MS);
    watchdog.unref();
    run.finally(() => clearTimeout(watchdog)).catch(() => undefined);
    run.then(
      (reply) => {
        if (settled) return;
        done();
        const got = this.deliver(reply, g);
        if (!this.active) return;
        // Short: this group's lists are empty. Once every group is, park the watchers.
        g.shortAt = got >= want ? 0 : Date.now();
        if (this.groups.every((x) => x.shortAt && !x.fetching)) this.parkAfterDeliveries();
        else this.pump();
      },
      () => {
        if (settled) return;
        // Retried here; the connection's state is reported through the broker's on('disconnect').
        done();
        if (!this.active) return;
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.pump(), 250);
      },
    );
  }

  /** How many a parked fetch may take: at most half the window, of the slots no fetch has asked for. */
  private room(): number {
    return Math.min(this.prefetch - this.held - this.reserved - this.carriedSlots, MAX_FETCH, Math.ceil(this.prefetch / 2));
  }

  /** The fetch's messages handed to the handler; returns how many it took off the lists (delivered and parked). */
  private deliver(reply: unknown, group: FetchGroup): number {
    const flat = Array.isArray(reply) ? (reply as Array<string | number>) : [];
    const parked = Number(flat[0]) || 0;
    if (parked > 0) this.onParked(parked);
    let n = parked;
    for (let i = 1; i + 2 < flat.length; i += 3) {
      const entry = group.order[Number(flat[i]) - 1];
      const tag = String(flat[i + 1]);
      const raw = String(flat[i + 2]);
      let message: TransportMessage | undefined;
      let error: Error | undefined;
      try {
        message = decodeEnvelope(raw);
      } catch (err) {
        error = err as Error;
      }
      const delivery: Delivery = {
        tag,
        queue: entry?.queue ?? this.queues[0] ?? '',
        message,
        error,
        raw,
        redelivered: isRedelivered(message),
      };
      n++;
      this.host.qos.hold(this, tag, delivery.queue);
      try {
        this.handler(delivery);
      } catch (err) {
        // The rest of the batch is already held: deliver it, then surface the error (as the
        // memory broker would, from its dispatch microtask).
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    return n;
  }

  /**
   * Park once the deliveries just handed over have run their synchronous part: a task that ends at
   * once has its result written before the BLMOVE and fetch go out again (they would delay it).
   */
  private parkAfterDeliveries(): void {
    queueMicrotask(() => this.waitForMessages());
  }

  /** Lists were empty: park the watchers (and poll what is not watched) until something arrives. */
  private waitForMessages(): void {
    if (!this.active) return;
    this.waiting = true;
    for (const w of this.watchers) if (!w.running) this.watch(w);
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(
      () => {
        if (this.waiting) this.wake();
      },
      this.polls ? POLL_MS : IDLE_POLL_MS,
    );
  }

  private watch(w: Watcher): void {
    w.running = true;
    if (!w.conn) {
      w.conn = this.host.newBlockingConnection();
      w.conn.on('close', () => (w.id = undefined));
    }
    const want = w.carries ? this.room() : 0;
    // Asked before the BLMOVE (behind it, it would wait for the wake-up too); not at every park.
    if (want > 0 && w.id === undefined) void w.conn.client('ID').then((id) => (w.id = Number(id)), () => undefined);
    const block = w.conn.blmove(w.key, w.key, 'RIGHT', 'RIGHT', BLOCK_SECONDS);
    if (want > 0) return this.watchAndFetch(w, w.conn, block, want);
    block.then(
      (v) => {
        w.running = false;
        if (!this.active) return;
        if (v !== null) this.wake();
        else if (this.waiting) this.watch(w);
      },
      () => this.watchFailed(w),
    );
  }

  private watchFailed(w: Watcher): void {
    w.running = false;
    if (!this.active) return;
    setTimeout(() => {
      if (this.active && this.waiting && !w.running) this.watch(w);
    }, 250);
  }

  /**
   * The BLMOVE with the fetch behind it: the fetch runs when the BLMOVE returns (a message came, or
   * it timed out) and its messages are delivered as any fetch's. It carries no acks (they would wait
   * for the wake-up); its slots are set aside until it answers so the window is never overfilled.
   */
  private watchAndFetch(w: Watcher, conn: RedisClient, block: Promise<unknown>, want: number): void {
    const g = this.groups[0]!;
    const sent = Date.now();
    this.carriedSlots += want;
    block.catch(() => undefined);
    const fetch = runScript(conn, 'fetch', g.keys, [want, (sent / 1000).toFixed(4), this.parkFrom(BLOCK_SECONDS * 1000), ...g.rkArgs]);
    w.carried = fetch;
    fetch.then(
      (reply) => {
        w.carried = undefined;
        this.carriedSlots -= want;
        w.running = false;
        const got = this.deliver(reply, g);
        if (Array.isArray(reply) && reply.length > 1 && Date.now() - sent > STALE_SCORE_MS) this.renewScores(reply);
        if (!this.active) return;
        // A full batch: there may be more. Short: the lists are empty again; once every group is, park once more.
        g.shortAt = got >= want ? 0 : Date.now();
        if (got < want && this.groups.every((x) => x.shortAt && !x.fetching)) this.parkAfterDeliveries();
        else this.pump();
      },
      () => {
        w.carried = undefined;
        this.carriedSlots -= want;
        // NOSCRIPT is answered by an EVAL (ioredis); anything else: fetch the usual way.
        this.watchFailed(w);
        if (this.active) this.schedulePump();
      },
    );
  }

  /** Its fetch waited in Redis behind the BLMOVE: score its messages now, not when it was sent. */
  private renewScores(reply: unknown): void {
    const flat = reply as Array<string | number>;
    const now = (Date.now() / 1000).toFixed(4);
    const args: string[] = [];
    for (let i = 2; i < flat.length; i += 3) args.push(now, String(flat[i]));
    this.host.client.zadd(this.host.layout.unackedIndex(this.queues[0] ?? ''), 'XX', ...args).catch(() => undefined);
  }

  /**
   * Cancel: a parked fetch is unblocked (its BLMOVE returns nil, the fetch runs) and its reply read,
   * so whatever it took is held here and given back, not left in unacked until the visibility timeout.
   */
  private async unblockCarried(w: Watcher): Promise<void> {
    if (!w.carried || w.id === undefined) return;
    const pending = w.carried.catch(() => undefined);
    // Refused (an ACL without CLIENT, a renamed command): it goes with its connection, as before.
    const n = await this.host.client.client('UNBLOCK', w.id).then(Number, () => undefined);
    if (n === undefined) return;
    // 0: not blocked under that id: its reply is on its way, or (an id from before a reconnect) it
    // still waits; either way not for long.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([pending, new Promise((res) => (timer = setTimeout(res, n === 1 ? UNBLOCK_WAIT_MS : UNBLOCKED_REPLY_MS)))]);
    clearTimeout(timer);
  }

  /** After a reconnect: fetch again (watchers' commands are resent by ioredis). */
  resume(): void {
    if (this.active) this.wake();
  }

  /** Something may have arrived: every group is asked again now. */
  private wake(): void {
    for (const g of this.groups) g.shortAt = 0;
    this.pump();
  }
}

/**
 * Held deliveries and prefetch windows, kept once for every broker (kombu keeps them once too:
 * `transport/virtual/base.py`, class QoS). A consumer holds at most `prefetch` unacknowledged
 * deliveries; an ack or a reject frees a slot; what a lost connection or a closing broker still
 * holds is drained in delivery order and goes back to its queue.
 */

/** A consumer's prefetch window: how many deliveries it may hold, and how many it holds. */
export interface PrefetchWindow {
  prefetch: number;
  held: number;
}

/** A prefetch count as every broker takes it: a whole number, at least 1. */
export function prefetchCount(n: number): number {
  return Number.isFinite(n) && n >= 1 ? Math.floor(n) : 1;
}

export interface Held<O extends PrefetchWindow, V> {
  readonly tag: string;
  readonly owner: O;
  readonly value: V;
  /** The same tag delivered again while still held (a Redis visibility restore racing an ack). */
  count: number;
}

export class QoS<O extends PrefetchWindow, V = undefined> {
  /** In delivery order (a Map keeps insertion order). */
  private readonly held = new Map<string, Held<O, V>>();

  get size(): number {
    return this.held.size;
  }

  /** `owner` took the delivery `tag`: one slot of its window is used. */
  hold(owner: O, tag: string, value: V): void {
    const h = this.held.get(tag);
    if (h) {
      h.count++;
      h.owner.held++;
      return;
    }
    this.held.set(tag, { tag, owner, value, count: 1 });
    owner.held++;
  }

  get(tag: string): Held<O, V> | undefined {
    return this.held.get(tag);
  }

  /** Acked or rejected: the slot is free again. Undefined when `tag` is not held (already settled, or requeued). */
  settle(tag: string): Held<O, V> | undefined {
    const h = this.held.get(tag);
    if (!h) return undefined;
    if (--h.count === 0) this.held.delete(tag);
    h.owner.held--;
    return h;
  }

  /** Take everything held (by `owner`, or by anyone), in delivery order: it goes back to its queues. */
  drain(owner?: O): Array<Held<O, V>> {
    const out: Array<Held<O, V>> = [];
    for (const h of this.held.values()) {
      if (owner && h.owner !== owner) continue;
      out.push(h);
      this.held.delete(h.tag);
      h.owner.held -= h.count;
    }
    return out;
  }

  values(): IterableIterator<Held<O, V>> {
    return this.held.values();
  }
}

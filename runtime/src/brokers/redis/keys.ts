/**
 * kombu's Redis key layout (kombu/transport/redis.py), so Python Celery and Sprig share queues.
 */
import { ConfigError } from '../../errors.js';
import { redactUrl } from '../../util/url.js';

/** kombu's separator between a queue name and its priority step (`celery\x06\x163`). */
export const PRIORITY_SEP = '\x06\x16';
/** kombu's default `priority_steps`. */
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;

export const UNACKED_KEY = 'unacked';
export const UNACKED_INDEX_KEY = 'unacked_index';
export const UNACKED_MUTEX_KEY = 'unacked_mutex';
/** kombu's `unacked_mutex_expire` (seconds → ms). */
export const UNACKED_MUTEX_EXPIRE_MS = 300_000;
/** `unacked_mutex_expire` (seconds, kombu's transport option), or kombu's default capped at the visibility timeout. */
export function unackedMutexExpireMs(url: string, given: unknown, visibilityTimeout: number): number {
  if (given === undefined || given === null || given === '') return Math.min(UNACKED_MUTEX_EXPIRE_MS, Math.ceil(visibilityTimeout * 1000));
  const n = Number(given);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`unacked_mutex_expire must be a number of seconds > 0, got ${JSON.stringify(given)} (${redactUrl(url)})`);
  return Math.ceil(n * 1000);
}

/** Sprig only: counter for tags given to garbage that carries no delivery_tag. */
export const GENERATED_TAG_KEY = '_sprig.generated_tag';
/** Sprig only: ETA messages parked on the broker until due (scored by ETA, epoch ms), the `unacked` value as member. */
export const DELAYED_KEY = '_sprig.delayed';
/** kombu's default visibility timeout (seconds). */
export const DEFAULT_VISIBILITY_TIMEOUT = 3600;

/** The priority step a message goes to: the largest step <= priority (kombu `Channel.priority`). */
export function priorityStep(priority: number | undefined): number {
  const p = Math.max(0, Math.min(9, Math.trunc(Number(priority) || 0)));
  let step = 0;
  for (const s of PRIORITY_STEPS) if (s <= p) step = s;
  return step;
}

/** The list key for `queue` at `priority` (kombu `_q_for_pri`): step 0 is the plain list. */
export function queueKey(queue: string, priority?: number): string {
  const step = priorityStep(priority);
  return step ? `${queue}${PRIORITY_SEP}${step}` : queue;
}

/** Every list of `queue`, highest priority (step 0) first. */
export function queueKeys(queue: string): string[] {
  return PRIORITY_STEPS.map((s) => (s ? `${queue}${PRIORITY_SEP}${s}` : queue));
}

/** kombu's binding set for the default (direct, anonymous) exchange. */
export function bindingKey(queue: string): string {
  return `_kombu.binding.${queue}`;
}

/** kombu binding member: `<routing_key>\x06\x16<pattern>\x06\x16<queue>`. */
export function bindingMember(queue: string): string {
  return `${queue}${PRIORITY_SEP}${PRIORITY_SEP}${queue}`;
}

/** Fanout channels are prefixed with `/<db>.` (kombu `keyprefix_fanout`). */
export function eventChannel(db: number, routingKey: string): string {
  return `/${db}.celeryev/${routingKey}`;
}

export function eventPattern(db: number): string {
  return `/${db}.celeryev/*`;
}

export function pidboxChannel(db: number): string {
  return `/${db}.celery.pidbox`;
}

export const REPLY_EXCHANGE = 'reply.celery.pidbox';

export function replyKey(routingKey: string): string {
  return `${routingKey}.${REPLY_EXCHANGE}`;
}

/** Member of `_kombu.binding.reply.celery.pidbox` routing `routingKey` to its reply list. */
export function replyBinding(routingKey: string): string {
  return `${routingKey}${PRIORITY_SEP}${PRIORITY_SEP}${replyKey(routingKey)}`;
}

/** Consumption order, as kombu's BRPOP: for each priority step, each queue in order. */
export function consumptionOrder(queues: readonly string[]): Array<{ key: string; queue: string; step: number }> {
  const out: Array<{ key: string; queue: string; step: number }> = [];
  for (const step of PRIORITY_STEPS) {
    for (const queue of queues) out.push({ key: step ? `${queue}${PRIORITY_SEP}${step}` : queue, queue, step });
  }
  return out;
}

// ---- Key layouts --------------------------------------------------------------------------------

/**
 * Where a queue's keys live. `KOMBU_LAYOUT` (redis://, sentinel://): kombu's names exactly, one
 * `unacked` hash for every queue, so Celery shares them. `CLUSTER_LAYOUT` (redis-cluster://): every
 * key of a queue starts with the hash tag `{queue}` (its lists, priority lists, unacked hash and
 * index, restore mutex, tag counter), so the fetch script's keys share one slot, and different
 * queues land on different slots, spread over the masters.
 */
export interface KeyLayout {
  readonly cluster: boolean;
  /** The name a queue's lists are named from (kombu: the queue itself), and its routing key in `unacked`. */
  base(queue: string): string;
  unacked(queue: string): string;
  unackedIndex(queue: string): string;
  unackedMutex(queue: string): string;
  generatedTag(queue: string): string;
  /** Parked ETA messages (redis-broker.ts `defer`): one set for the db on kombu's layout, one per queue on a cluster. */
  delayed(queue: string): string;
}

export const KOMBU_LAYOUT: KeyLayout = {
  cluster: false,
  base: (q) => q,
  unacked: () => UNACKED_KEY,
  unackedIndex: () => UNACKED_INDEX_KEY,
  unackedMutex: () => UNACKED_MUTEX_KEY,
  generatedTag: () => GENERATED_TAG_KEY,
  delayed: () => DELAYED_KEY,
};

const tagged = (q: string) => `{${q}}`;

export const CLUSTER_LAYOUT: KeyLayout = {
  cluster: true,
  base: tagged,
  unacked: (q) => `${tagged(q)}${UNACKED_KEY}`,
  unackedIndex: (q) => `${tagged(q)}${UNACKED_INDEX_KEY}`,
  unackedMutex: (q) => `${tagged(q)}${UNACKED_MUTEX_KEY}`,
  generatedTag: (q) => `${tagged(q)}${GENERATED_TAG_KEY}`,
  delayed: (q) => `${tagged(q)}${DELAYED_KEY}`,
};

/** One fetch script call: its keys (unacked, index, tag counter, delayed, lists...) and routing keys. */
export interface FetchGroup {
  keys: string[];
  rkArgs: string[];
  order: Array<{ key: string; queue: string; step: number }>;
}

/**
 * The fetch calls for `queues`. kombu layout: one call over every list (priority across queues, as
 * BRPOP). Cluster: one call per queue (a script's keys must share a slot), run concurrently by the consumer.
 */
export function fetchGroups(queues: readonly string[], layout: KeyLayout): FetchGroup[] {
  const sets = layout.cluster ? queues.map((q) => [q]) : [queues];
  return sets.map((qs) => {
    const order = consumptionOrder(qs).map((o) => ({ ...o, key: queueKey(layout.base(o.queue), o.step) }));
    const q0 = qs[0] ?? '';
    return {
      keys: [layout.unacked(q0), layout.unackedIndex(q0), layout.generatedTag(q0), layout.delayed(q0), ...order.map((o) => o.key)],
      rkArgs: order.map((o) => JSON.stringify(layout.base(o.queue))),
      order,
    };
  });
}

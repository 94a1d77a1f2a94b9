/**
 * kombu's Redis key layout (kombu/transport/redis.py), so Python Celery and Sprig share queues.
 */

/** kombu's separator between a queue name and its priority step (`celery\x06\x163`). */
export const PRIORITY_SEP = '\x06\x16';
/** kombu's default `priority_steps`. */
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;

export const UNACKED_KEY = 'unacked';
export const UNACKED_INDEX_KEY = 'unacked_index';
export const UNACKED_MUTEX_KEY = 'unacked_mutex';
/** kombu's `unacked_mutex_expire` (seconds → ms). */
export const UNACKED_MUTEX_EXPIRE_MS = 300_000;
/** Sprig only: counter for tags given to garbage that carries no delivery_tag. */
export const GENERATED_TAG_KEY = '_sprig.generated_tag';
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

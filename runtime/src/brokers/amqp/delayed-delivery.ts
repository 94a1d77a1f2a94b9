/**
 * Celery 5.5's native delayed delivery (kombu `transport/native_delayed_delivery.py`), so long ETAs
 * wait in RabbitMQ, not in a worker's memory (a quorum queue's per-consumer QoS cannot grow the
 * prefetch window for them). The delay in whole seconds is written as 28 binary digits in front of
 * the routing key (`0.0.…1.0.1.<queue>`); level L (27…0) is a topic exchange + queue
 * `celery_delayed_L` with a TTL of 2^L s whose binding takes the messages with a 1 in bit L and
 * whose dead-letter exchange is the next level; a 0 goes on to the next level's exchange at once.
 * Level 0 ends in the topic exchange `celery_delayed_delivery`, which routes `#.<queue>` home.
 */
import type { Channel } from 'amqplib';
import type { QueueType } from './topology.js';

export const MAX_BITS = 28;
export const MAX_LEVEL = MAX_BITS - 1;
export const DELIVERY_EXCHANGE = 'celery_delayed_delivery';
/** The longest delay the levels can express, seconds (~8.5 years). */
export const MAX_DELAY_SEC = 2 ** MAX_BITS - 1;

export function levelName(level: number): string {
  return `celery_delayed_${level}`;
}

/** Where a delayed message is published: the top level's exchange. */
export const ENTRY_EXCHANGE = levelName(MAX_LEVEL);

const PREFIX = new RegExp(`^(?:[01]\\.){${MAX_BITS}}`);

/** kombu `calculate_routing_key`: the delay's bits, then the routing key (an old prefix removed). */
export function delayedRoutingKey(seconds: number, routingKey: string): string {
  const s = Math.floor(seconds);
  if (!(s >= 1)) throw new RangeError('a delayed message needs a delay of at least 1 s');
  if (!routingKey) throw new RangeError('a delayed message needs a routing key');
  const bits = Math.min(s, MAX_DELAY_SEC).toString(2).padStart(MAX_BITS, '0');
  return `${bits.split('').join('.')}.${routingKey.replace(PREFIX, '')}`;
}

/** The whole topology, as kombu declares it (same names and arguments: Celery and Sprig share it). */
export async function declareDelayedDelivery(ch: Channel, queueType: QueueType): Promise<void> {
  let key = '1.#';
  for (let level = MAX_LEVEL; level >= 0; level--) {
    const name = levelName(level);
    await ch.assertExchange(name, 'topic', { durable: true, autoDelete: false });
    const args: Record<string, unknown> = {
      'x-queue-type': queueType,
      'x-overflow': 'reject-publish',
      'x-message-ttl': 2 ** level * 1000,
      'x-dead-letter-exchange': level > 0 ? levelName(level - 1) : DELIVERY_EXCHANGE,
    };
    if (queueType === 'quorum') args['x-dead-letter-strategy'] = 'at-least-once';
    await ch.assertQueue(name, { durable: true, autoDelete: false, exclusive: false, arguments: args });
    await ch.bindQueue(name, name, key);
    key = `*.${key}`;
  }
  key = '0.#';
  for (let level = MAX_LEVEL; level > 0; level--) {
    await ch.bindExchange(levelName(level - 1), levelName(level), key);
    key = `*.${key}`;
  }
  await ch.assertExchange(DELIVERY_EXCHANGE, 'topic', { durable: true, autoDelete: false });
  await ch.bindExchange(DELIVERY_EXCHANGE, levelName(0), key);
}

/**
 * Route delayed messages for `queue` home. Celery binds the queue's own (topic) exchange; Sprig's
 * task queues sit behind a direct exchange, which cannot take `#.` patterns, so the queue itself is
 * bound to the delivery exchange.
 */
export async function bindDelayedQueue(ch: Channel, queue: string): Promise<void> {
  await ch.bindQueue(queue, DELIVERY_EXCHANGE, `#.${queue}`);
}

/** Seconds until `eta` (an ISO string from the message headers), or 0 when it is not (far enough) ahead. */
export function delayOf(eta: unknown, now = Date.now()): number {
  if (typeof eta !== 'string' || !eta) return 0;
  const t = Date.parse(eta);
  if (!Number.isFinite(t)) return 0;
  const s = Math.floor((t - now) / 1000);
  return s >= 1 ? s : 0;
}

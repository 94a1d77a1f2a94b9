/**
 * The exchanges and queues Celery declares on RabbitMQ (see celery-wire/amqp-topology.txt):
 *   task queue `q`     durable queue, reached through the default exchange (routing key = q), and
 *                      a durable direct exchange named `q` bound with key `q` (Celery's automatic
 *                      exchange; for the default queue that is the `celery` exchange).
 *   `celeryev`         durable topic exchange; receivers bind an auto-delete queue with `#`.
 *   `celery.pidbox`    transient fanout exchange for remote control broadcasts.
 *   `reply.celery.pidbox` transient direct exchange; replies are routed by the client's key.
 */
import type { Channel } from 'amqplib';
import { DEAD_LETTER_HEADERS } from '../dead-letter.js';
import { ConfigError } from '../../errors.js';
import { replyCode } from './connection.js';

export const EVENT_EXCHANGE = 'celeryev';
export const PIDBOX_EXCHANGE = 'celery.pidbox';
export const REPLY_EXCHANGE = 'reply.celery.pidbox';
/**
 * Priorities on queues Sprig creates: off by default, like Celery (whose workers would refuse a
 * queue declared with other arguments); `?queue_max_priority=10` in the broker URL turns them on,
 * matching Celery's `task_queue_max_priority = 10`.
 */
export function maxPriorityFrom(query: URLSearchParams): number | undefined {
  const v = query.get('queue_max_priority') ?? query.get('x-max-priority');
  const n = Number(v);
  return v && Number.isInteger(n) && n > 0 && n <= 255 ? n : undefined;
}
/**
 * Celery 5.5's `task_default_queue_type`: `quorum` task queues (replicated Raft queues on a
 * RabbitMQ cluster) are declared with `x-queue-type: quorum` and a delivery limit, and consumed
 * with per-consumer QoS (quorum queues refuse global QoS). `classic` (the default) is as before.
 */
export type QueueType = 'classic' | 'quorum';

export interface QueueTypeOptions {
  type: QueueType;
  /**
   * Quorum only: RabbitMQ dead-letters a message delivered this many times without an ack (a task
   * that kills its worker every time) into `<queue>.dead-letter`; `delivery_limit`, default 20
   * (RabbitMQ 4's own default), 0 for none.
   */
  deliveryLimit: number;
}

/** From the URL (`?task_default_queue_type=quorum&delivery_limit=5`) or the setting; the URL wins. */
export function queueTypeFrom(query: URLSearchParams, opts: { defaultQueueType?: string; transportOptions?: Readonly<Record<string, unknown>> }): QueueTypeOptions {
  const raw = query.get('task_default_queue_type') ?? query.get('queue_type') ?? opts.defaultQueueType ?? 'classic';
  if (raw !== 'classic' && raw !== 'quorum') {
    throw new ConfigError(`task_default_queue_type must be "classic" or "quorum", got ${JSON.stringify(raw)}`);
  }
  const lim = query.get('delivery_limit') ?? opts.transportOptions?.delivery_limit ?? 20;
  const deliveryLimit = Number(lim);
  if (!Number.isInteger(deliveryLimit) || deliveryLimit < 0) throw new ConfigError(`delivery_limit must be an integer >= 0, got ${JSON.stringify(lim)}`);
  return { type: raw, deliveryLimit };
}

/** The arguments Sprig declares a new task queue with. */
export function taskQueueArguments(queue: string, maxPriority: number | undefined, qt?: QueueTypeOptions): Record<string, unknown> {
  if (qt?.type !== 'quorum') return maxPriority ? { 'x-max-priority': maxPriority } : {};
  // Quorum queues (RabbitMQ 3.x) have no priorities; poison messages go to the dead-letter queue.
  const args: Record<string, unknown> = { 'x-queue-type': 'quorum' };
  if (qt.deliveryLimit > 0) {
    args['x-delivery-limit'] = qt.deliveryLimit;
    args['x-dead-letter-exchange'] = '';
    args['x-dead-letter-routing-key'] = `${queue}.dead-letter`;
  }
  return args;
}

/** The header a dead-lettered copy carries: why it was rejected (the entry's shape: dead-letter.ts). */
export const REJECT_REASON_HEADER = DEAD_LETTER_HEADERS.reason;

/** Celery's event receiver queue arguments: stale events are worthless, idle queues go away. */
export const EVENT_QUEUE_TTL_MS = 5_000;
export const EVENT_QUEUE_EXPIRES_MS = 60_000;
/** kombu Mailbox: node queues expire after 10 s unused; messages after 300 s. */
export const PIDBOX_QUEUE_EXPIRES_MS = 10_000;
export const PIDBOX_MESSAGE_TTL_MS = 300_000;
/** The rpc reply queue outlives a dropped connection (results published meanwhile wait there). */
export const RPC_QUEUE_EXPIRES_MS = 86_400_000;

export function pidboxReplyQueue(routingKey: string): string {
  return `${routingKey}.${REPLY_EXCHANGE}`;
}

/** Run one admin call on `ch`; undefined when the server answers 404 NOT_FOUND (which closes the channel). */
export async function ifExists<T>(op: Promise<T>): Promise<T | undefined> {
  try {
    return await op;
  } catch (err) {
    if (replyCode(err) === 404) return undefined;
    throw err;
  }
}

export async function declareSharedExchanges(ch: Channel): Promise<void> {
  await ch.assertExchange(EVENT_EXCHANGE, 'topic', { durable: true, autoDelete: false });
  await ch.assertExchange(PIDBOX_EXCHANGE, 'fanout', { durable: false, autoDelete: false });
  await ch.assertExchange(REPLY_EXCHANGE, 'direct', { durable: false, autoDelete: false });
}

/**
 * Declare a task queue without ever fighting over its arguments. A queue that exists (Celery
 * declares `celery` with no arguments) is used as it is: redeclaring it with `x-max-priority`
 * would be a PRECONDITION_FAILED channel error. Only queues that do not exist yet are created,
 * as Celery would (with `x-max-priority` only when `queue_max_priority` is set). Each step runs on a channel from `open()` because a 404/406 closes it.
 * Returns whether Sprig created it (then it has priorities).
 */
export async function declareTaskQueue(
  open: () => Promise<Channel>,
  queue: string,
  maxPriority?: number,
  queueType?: QueueTypeOptions,
): Promise<{ created: boolean }> {
  let created = false;
  const exists = await ifExists((await open()).checkQueue(queue));
  if (!exists) {
    try {
      await (await open()).assertQueue(queue, { durable: true, autoDelete: false, exclusive: false, arguments: taskQueueArguments(queue, maxPriority, queueType) });
      created = true;
    } catch (err) {
      // Someone (a Celery worker?) created it meanwhile with other arguments: use theirs.
      if (replyCode(err) !== 406) throw err;
      await (await open()).checkQueue(queue);
    }
  }
  try {
    const ch = await open();
    await ch.assertExchange(queue, 'direct', { durable: true, autoDelete: false });
    await ch.bindQueue(queue, queue, queue);
  } catch (err) {
    // An exchange of that name with another type: the default-exchange route still works.
    if (replyCode(err) !== 406) throw err;
  }
  return { created };
}

/**
 * The dead-letter queue: durable, no TTL (a copy must never expire), `x-max-length` (the oldest go
 * first past it). Next to quorum task queues it is a quorum queue too: a classic one lives on one
 * node, and while that node is down its declaration (which every consumer restart does) fails.
 * One that exists with other arguments is used as it is; returns false then.
 */
export async function declareDeadLetterQueue(open: () => Promise<Channel>, queue: string, maxLength: number, type: QueueType = 'classic'): Promise<boolean> {
  try {
    await (await open()).assertQueue(queue, {
      durable: true,
      autoDelete: false,
      exclusive: false,
      arguments: { 'x-max-length': maxLength, ...(type === 'quorum' ? { 'x-queue-type': 'quorum' } : {}) },
    });
    return true;
  } catch (err) {
    if (replyCode(err) !== 406) throw err;
    await (await open()).checkQueue(queue);
    return false;
  }
}

/**
 * Dead letters: one entry shape for every broker, made by one function. A broker that stores
 * strings (memory, embedded, Redis) keeps the entry as JSON in the list `<queue>.dead-letter`;
 * AMQP publishes the rejected message itself to the queue `<queue>.dead-letter`, byte for byte,
 * with the other fields as headers (a broker-side reader sees the original message).
 */
import type { Delivery } from './types.js';

export interface DeadLetterEntry {
  /** Why it was rejected (the worker's reason, or 'rejected'). */
  reason: string;
  /** The queue it was taken from. */
  queue: string;
  /** When it was rejected: Unix time in seconds, as Celery writes times. */
  time: number;
  /** The message as the consumer received it (the kombu envelope; on AMQP the body). */
  raw: string | Buffer;
}

/** AMQP headers of a dead-lettered copy. */
export const DEAD_LETTER_HEADERS = {
  reason: 'x-sprig-reject-reason',
  queue: 'x-sprig-original-queue',
  time: 'x-sprig-rejected-at',
} as const;

/** Name of the dead-letter list/queue a Sprig broker keeps for `queue`. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead-letter`;
}

/** The dead-letter entry for a rejected delivery. */
export function deadLetterEntry(d: Pick<Delivery, 'queue' | 'raw'>, reason: string | undefined, now = Date.now()): DeadLetterEntry {
  return { reason: reason ?? 'rejected', queue: d.queue, time: now / 1000, raw: d.raw ?? '' };
}

/** The entry as a list broker stores it. */
export function encodeDeadLetter(e: DeadLetterEntry): string {
  const raw = typeof e.raw === 'string' ? e.raw : e.raw.toString('utf8');
  return JSON.stringify({ reason: e.reason, queue: e.queue, time: e.time, raw });
}

/** The entry in a delivery taken from a dead-letter queue (either form), or undefined. */
export function readDeadLetter(d: Delivery): DeadLetterEntry | undefined {
  const h = d.message?.headers;
  const reason = h?.[DEAD_LETTER_HEADERS.reason];
  if (typeof reason === 'string') {
    const queue = h?.[DEAD_LETTER_HEADERS.queue];
    const time = h?.[DEAD_LETTER_HEADERS.time];
    return { reason, queue: typeof queue === 'string' ? queue : '', time: typeof time === 'number' ? time : 0, raw: d.raw ?? '' };
  }
  if (d.raw === undefined) return undefined;
  try {
    const e = JSON.parse(typeof d.raw === 'string' ? d.raw : d.raw.toString('utf8')) as Partial<DeadLetterEntry> | null;
    if (!e || typeof e.reason !== 'string' || typeof e.raw !== 'string') return undefined;
    return { reason: e.reason, queue: typeof e.queue === 'string' ? e.queue : '', time: typeof e.time === 'number' ? e.time : 0, raw: e.raw };
  } catch {
    return undefined;
  }
}

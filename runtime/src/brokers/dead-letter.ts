/**
 * Dead letters: one entry shape for every broker, made by one function. A broker that stores
 * strings (memory, embedded, Redis) keeps the entry as JSON in the list `<queue>.dead-letter`;
 * AMQP publishes the rejected message itself to the queue `<queue>.dead-letter`, byte for byte,
 * with the other fields as headers (a broker-side reader sees the original message).
 */
import { StringDecoder } from 'node:string_decoder';
import { ConfigError } from '../errors.js';
import type { TransportMessage } from '../protocol/message.js';
import type { Broker, Delivery, TakenDeadLetter } from './types.js';

/**
 * What a dead-letter queue keeps: the head of each rejected message (a 20 MB bad message must not
 * become a 20 MB entry) and at most `maxLength` entries per queue, the oldest dropped first.
 */
export interface DeadLetterLimits {
  /** Bytes of the rejected message kept in its entry; its full size is recorded beside it. */
  maxBytes: number;
  /** Entries kept per dead-letter queue (Redis LTRIM, RabbitMQ `x-max-length`). */
  maxLength: number;
}

export const DEFAULT_DEAD_LETTER_LIMITS: Readonly<DeadLetterLimits> = { maxBytes: 64 * 1024, maxLength: 10_000 };

/** The limits with defaults filled in; a value that is not a positive integer is a ConfigError. */
export function deadLetterLimits(o: Partial<DeadLetterLimits> = {}): DeadLetterLimits {
  const check = (key: keyof DeadLetterLimits, example: string): number => {
    const v = o[key] as unknown;
    if (v === undefined) return DEFAULT_DEAD_LETTER_LIMITS[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
      throw new ConfigError(`deadLetter.${key} must be a positive integer (e.g. ${example}; default ${DEFAULT_DEAD_LETTER_LIMITS[key]}), got ${JSON.stringify(v)}`);
    }
    return v;
  };
  return { maxBytes: check('maxBytes', '65536'), maxLength: check('maxLength', '10000') };
}

export interface DeadLetterEntry {
  /** Why it was rejected (the worker's reason, or 'rejected'). */
  reason: string;
  /** The queue it was taken from. */
  queue: string;
  /** When it was rejected: Unix time in seconds, as Celery writes times. */
  time: number;
  /** The message as the consumer received it (the kombu envelope; on AMQP the body), its first `maxBytes` bytes. */
  raw: string | Buffer;
  /** Bytes of the whole message as received. */
  size: number;
  /** Only the head of the message is kept (`size` > the bytes in `raw`). */
  truncated: boolean;
}

/** AMQP headers of a dead-lettered copy. */
export const DEAD_LETTER_HEADERS = {
  reason: 'x-sprig-reject-reason',
  queue: 'x-sprig-original-queue',
  time: 'x-sprig-rejected-at',
  size: 'x-sprig-original-size',
  truncated: 'x-sprig-truncated',
} as const;

/** Name of the dead-letter list/queue a Sprig broker keeps for `queue`. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead-letter`;
}

/** The first `maxBytes` bytes of `raw` (a string is cut at a character boundary). */
function head(raw: string | Buffer, maxBytes: number): { raw: string | Buffer; size: number; truncated: boolean } {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw, 'utf8') : raw.length;
  if (size <= maxBytes) return { raw, size, truncated: false };
  if (typeof raw !== 'string') return { raw: raw.subarray(0, maxBytes), size, truncated: true };
  return { raw: new StringDecoder('utf8').write(Buffer.from(raw, 'utf8').subarray(0, maxBytes)), size, truncated: true };
}

/** The dead-letter entry for a rejected delivery (the head of its raw message, see DeadLetterLimits). */
export function deadLetterEntry(
  d: Pick<Delivery, 'queue' | 'raw'>,
  reason: string | undefined,
  o: { limits?: Pick<DeadLetterLimits, 'maxBytes'>; now?: number } = {},
): DeadLetterEntry {
  const kept = head(d.raw ?? '', (o.limits ?? DEFAULT_DEAD_LETTER_LIMITS).maxBytes);
  return { reason: reason ?? 'rejected', queue: d.queue, time: (o.now ?? Date.now()) / 1000, ...kept };
}

/** The entry as a list broker stores it. */
export function encodeDeadLetter(e: DeadLetterEntry): string {
  const raw = typeof e.raw === 'string' ? e.raw : e.raw.toString('utf8');
  return JSON.stringify({ reason: e.reason, queue: e.queue, time: e.time, size: e.size, ...(e.truncated ? { truncated: true } : {}), raw });
}

/** The entry in a delivery taken from a dead-letter queue (either form), or undefined. */
export function readDeadLetter(d: Delivery): DeadLetterEntry | undefined {
  const h = d.message?.headers;
  const reason = h?.[DEAD_LETTER_HEADERS.reason];
  const rawSize = (raw: string | Buffer) => (typeof raw === 'string' ? Buffer.byteLength(raw, 'utf8') : raw.length);
  if (typeof reason === 'string') {
    const queue = h?.[DEAD_LETTER_HEADERS.queue];
    const time = h?.[DEAD_LETTER_HEADERS.time];
    const size = h?.[DEAD_LETTER_HEADERS.size];
    const raw = d.raw ?? '';
    return {
      reason,
      queue: typeof queue === 'string' ? queue : '',
      time: typeof time === 'number' ? time : 0,
      raw,
      size: typeof size === 'number' ? size : rawSize(raw),
      truncated: h?.[DEAD_LETTER_HEADERS.truncated] === true,
    };
  }
  if (d.raw === undefined) return undefined;
  try {
    const e = JSON.parse(typeof d.raw === 'string' ? d.raw : d.raw.toString('utf8')) as Partial<DeadLetterEntry> | null;
    if (!e || typeof e.reason !== 'string' || typeof e.raw !== 'string') return undefined;
    return {
      reason: e.reason,
      queue: typeof e.queue === 'string' ? e.queue : '',
      time: typeof e.time === 'number' ? e.time : 0,
      raw: e.raw,
      size: typeof e.size === 'number' ? e.size : rawSize(e.raw),
      truncated: e.truncated === true,
    };
  } catch {
    return undefined;
  }
}

/** What one requeue pass did (requeueDeadLetters). */
export interface RequeueReport {
  /** Put back on their queue, as the bytes that were rejected. */
  requeued: number;
  /** Left in the dead-letter queue, with why (still not a message, truncated). */
  kept: Array<{ reason: string; size: number }>;
}

/**
 * Why a dead letter cannot go back to its queue, or undefined when it can: a message cut to its
 * head, or bytes that are still not a message, would only be rejected again.
 */
export function requeueRefusal(t: TakenDeadLetter): string | undefined {
  if (t.entry.truncated) return `only its first ${Buffer.byteLength(t.entry.raw)} of ${t.entry.size} bytes were kept: it cannot be requeued`;
  if (!t.message) return `still not a message (${t.error?.message ?? 'no envelope'})`;
  const h = t.message.headers;
  if (typeof h.task !== 'string' || typeof h.id !== 'string') return 'still not a task message: its headers name no task and id';
  return undefined;
}

/**
 * Requeue the oldest `max` dead letters of `queue` (all of them by default): each entry present
 * when the pass starts is visited once, so a message that fails again and is dead-lettered anew
 * during the pass is not requeued a second time, and one that cannot be requeued
 * (requeueRefusal) stays, moved to the newest end: the pass always ends.
 */
export async function requeueDeadLetters(broker: Broker, queue: string, o: { max?: number } = {}): Promise<RequeueReport> {
  if (!broker.moveDeadLetter) throw new ConfigError(`the ${broker.kind} broker cannot requeue dead letters`);
  const n = Math.min(o.max ?? Infinity, await broker.deadLetterLength(queue));
  const report: RequeueReport = { requeued: 0, kept: [] };
  for (let i = 0; i < n; i++) {
    let refusal: string | undefined;
    const taken = await broker.moveDeadLetter(queue, (t) => {
      refusal = requeueRefusal(t);
      return refusal ? 'keep' : 'requeue';
    });
    if (!taken) break;
    if (refusal) report.kept.push({ reason: refusal, size: taken.entry.size });
    else report.requeued++;
  }
  return report;
}

/** The entry a list broker stored (encodeDeadLetter's JSON) and the message in it, for moveDeadLetter. */
export function takenFromList(stored: string, decode: (raw: string) => TransportMessage): TakenDeadLetter {
  const entry = readDeadLetter({ tag: '', queue: '', raw: stored, redelivered: false });
  if (!entry) return { entry: { reason: 'unreadable', queue: '', time: 0, raw: stored, size: Buffer.byteLength(stored), truncated: false }, error: new Error('not a dead-letter entry') };
  try {
    return { entry, message: decode(typeof entry.raw === 'string' ? entry.raw : entry.raw.toString('utf8')) };
  } catch (err) {
    return { entry, error: err as Error };
  }
}

/**
 * Queue admin on every broker, for the monitor's Queues view and `sprig queues`: what the broker
 * counts itself (Broker.listQueues / queueStats) completed by what the workers say over remote
 * control (the queues each consumes, what each holds reserved or waiting for its ETA); purge;
 * pause and resume consuming a queue (Celery's cancel_consumer / add_consumer); requeue dead letters.
 */
import type { Broker } from '../brokers/types.js';
import { isInternalQueue } from '../brokers/queue-names.js';
import { requeueDeadLetters, type RequeueReport } from '../brokers/dead-letter.js';
import { ConfigError } from '../errors.js';
import type { Control, Replies } from './client.js';
import type { QueueInfo } from './queue-info.js';

export type { QueueInfo } from './queue-info.js';


export interface QueueAdminOptions {
  /** Queues to show even when neither the broker nor a worker names them (the app's default queue). */
  queues?: readonly string[];
  /** Seconds to wait for the workers' answers (default 1). */
  timeout?: number;
}

/** A valid queue name, or a ConfigError saying what is wrong. */
export function queueName(q: unknown): string {
  if (typeof q !== 'string' || !q.trim() || q.length > 255 || /[\s\p{Cc}]/u.test(q)) {
    throw new ConfigError(`a queue name is 1-255 characters without spaces or control characters (e.g. celery), got ${JSON.stringify(q)}`);
  }
  if (isInternalQueue(q)) throw new ConfigError(`${JSON.stringify(q)} is not a task queue (dead-letter, pidbox, reply and event queues are the broker's own); give the task queue, e.g. celery`);
  return q;
}

export class QueueAdmin {
  constructor(
    private readonly broker: () => Promise<Broker>,
    private readonly control: Control,
  ) {}

  /** Every queue on the broker with its counts, sorted by name. */
  async list(o: QueueAdminOptions = {}): Promise<QueueInfo[]> {
    const broker = await this.broker();
    const window = { timeout: o.timeout ?? 1 };
    const ask = (method: string): Promise<Replies> => (broker.broadcast ? this.control.broadcast(method, window).catch(() => []) : Promise.resolve([]));
    const [named, activeQueues, reserved, active, scheduled] = await Promise.all([
      broker.listQueues?.() ?? Promise.resolve([]),
      ask('active_queues'),
      ask('reserved'),
      ask('active'),
      ask('scheduled'),
    ]);
    const workersOf = new Map<string, string[]>();
    for (const [host, qs] of entries(activeQueues)) {
      for (const q of Array.isArray(qs) ? qs : []) {
        const name = (q as { name?: unknown } | null)?.name;
        if (typeof name === 'string') workersOf.set(name, [...(workersOf.get(name) ?? []), host]);
      }
    }
    const held = countByQueue([reserved, active, scheduled]);
    const waitingEta = countByQueue([scheduled]);
    const names = new Set([...named, ...workersOf.keys(), ...(o.queues ?? [])].filter((q) => !isInternalQueue(q)));
    const out = await Promise.all(
      [...names].sort().map(async (name): Promise<QueueInfo> => {
        const s = broker.queueStats ? await broker.queueStats(name) : { waiting: await broker.queueLength(name), deadLetter: await broker.deadLetterLength(name) };
        const workers = (workersOf.get(name) ?? []).sort();
        const answered = activeQueues.length > 0;
        const eta = waitingEta.get(name) ?? 0;
        return {
          name,
          waiting: s.waiting,
          reserved: s.reserved ?? (answered ? (held.get(name) ?? 0) : null),
          scheduled: s.scheduled !== undefined ? s.scheduled + eta : answered ? eta : null,
          deadLetter: s.deadLetter,
          consumers: s.consumers ?? workers.length,
          workers,
        };
      }),
    );
    return out;
  }

  /** Delete the messages waiting in `queue` (not the ones workers hold); how many went. */
  async purge(queue: string): Promise<number> {
    return (await this.broker()).purge(queueName(queue));
  }

  /** Workers stop taking messages from `queue` (the ones they hold still run): Celery's cancel_consumer. */
  pause(queue: string, o: { destination?: string[]; timeout?: number } = {}): Promise<Replies> {
    return this.control.broadcast('cancel_consumer', { arguments: { queue: queueName(queue) }, destination: o.destination ?? null, timeout: o.timeout ?? 1 });
  }

  /** Workers consume `queue` again (or from now on): Celery's add_consumer. */
  resume(queue: string, o: { destination?: string[]; timeout?: number } = {}): Promise<Replies> {
    return this.control.broadcast('add_consumer', { arguments: { queue: queueName(queue) }, destination: o.destination ?? null, timeout: o.timeout ?? 1 });
  }

  /** Put the oldest `max` (default: all) dead letters of `queue` back on it, as the bytes that were rejected. */
  async requeue(queue: string, o: { max?: number } = {}): Promise<RequeueReport> {
    return requeueDeadLetters(await this.broker(), queueName(queue), o);
  }
}

/** `[{hostname: value}]` replies as [hostname, value] pairs. */
function entries(replies: Replies): Array<[string, unknown]> {
  return replies.flatMap((r) => Object.entries(r));
}

/** Tasks in inspect replies (reserved, active, scheduled: `{request: {...}}` for scheduled), by the queue they came from. */
function countByQueue(lists: Replies[]): Map<string, number> {
  const n = new Map<string, number>();
  for (const replies of lists) {
    for (const [, tasks] of entries(replies)) {
      for (const t of Array.isArray(tasks) ? tasks : []) {
        const req = (t as { request?: unknown })?.request ?? t;
        const rk = (req as { delivery_info?: { routing_key?: unknown } } | null)?.delivery_info?.routing_key;
        if (typeof rk === 'string') n.set(rk, (n.get(rk) ?? 0) + 1);
      }
    }
  }
  return n;
}

/**
 * The Queues view's requests (the editor's webview and `sprig monitor --http` both answer them
 * here): listQueues, purgeQueue, pauseQueue, resumeQueue, requeueDeadLetters. Parameters are
 * checked (a bad queue name is a ConfigError); an unknown method is one too.
 */
export async function answerQueueRequest(admin: QueueAdmin, method: string, params: Record<string, unknown>, defaultQueue: string): Promise<unknown> {
  const queue = () => queueName(params.queue);
  switch (method) {
    case 'listQueues':
      return { queues: await admin.list({ queues: [defaultQueue] }) };
    case 'purgeQueue':
      return { purged: await admin.purge(queue()) };
    case 'pauseQueue':
      return { workers: (await admin.pause(queue())).length };
    case 'resumeQueue':
      return { workers: (await admin.resume(queue())).length };
    case 'requeueDeadLetters': {
      const max = params.max;
      if (max !== undefined && (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1)) throw new ConfigError(`requeueDeadLetters: max must be a positive integer, got ${JSON.stringify(max)}`);
      const r = await admin.requeue(queue(), { max });
      return { requeued: r.requeued, kept: r.kept.map((k) => k.reason) };
    }
    default:
      throw new ConfigError(`${method} is not a queue request`);
  }
}

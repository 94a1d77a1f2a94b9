import { randomUUID } from 'node:crypto';
import type { Broker } from '../brokers/types.js';
import { ConfigError } from '../errors.js';

export interface BroadcastOptions {
  arguments?: Record<string, unknown>;
  /** Only these worker hostnames answer. */
  destination?: string[] | null;
  /** Seconds to collect replies (default 1, like Celery). */
  timeout?: number;
  /** Stop early after this many replies. */
  limit?: number;
  /** Wait for replies (default true). */
  reply?: boolean;
}

export type Replies = Array<Record<string, unknown>>;

/** Remote control client (Celery's app.control): broadcast a command, collect `{hostname: value}` replies. */
export class Control {
  constructor(private readonly broker: () => Promise<Broker>) {}

  async broadcast(method: string, opts: BroadcastOptions = {}): Promise<Replies> {
    const broker = await this.broker();
    if (!broker.broadcast) throw new ConfigError(`remote control is not supported by the ${broker.kind} broker`);
    const replyKey = randomUUID();
    const wantReply = opts.reply !== false;
    const collecting = wantReply && broker.collectReplies ? broker.collectReplies(replyKey, (opts.timeout ?? 1) * 1000, opts.limit ?? opts.destination?.length) : Promise.resolve([]);
    await broker.broadcast({
      method,
      arguments: opts.arguments ?? {},
      destination: opts.destination ?? null,
      pattern: null,
      matcher: null,
      ticket: randomUUID(),
      reply_to: wantReply ? { exchange: 'reply.celery.pidbox', routing_key: replyKey } : null,
    });
    const replies = await collecting;
    return replies.filter((r): r is Record<string, unknown> => !!r && typeof r === 'object');
  }

  ping(opts?: BroadcastOptions) {
    return this.broadcast('ping', opts);
  }

  inspect(method: string, opts?: BroadcastOptions) {
    return this.broadcast(method, opts);
  }

  revoke(taskId: string | string[], opts: { terminate?: boolean; signal?: string } & BroadcastOptions = {}) {
    return this.broadcast('revoke', { ...opts, arguments: { task_id: taskId, terminate: !!opts.terminate, signal: opts.signal ?? 'SIGTERM' } });
  }

  rateLimit(taskName: string, rate: string | null, opts?: BroadcastOptions) {
    return this.broadcast('rate_limit', { ...opts, arguments: { task_name: taskName, rate_limit: rate } });
  }

  poolGrow(n = 1, opts?: BroadcastOptions) {
    return this.broadcast('pool_grow', { ...opts, arguments: { n } });
  }

  poolShrink(n = 1, opts?: BroadcastOptions) {
    return this.broadcast('pool_shrink', { ...opts, arguments: { n } });
  }

  /**
   * The workers that answer (within `timeout`, default 1 s) and the queues each consumes
   * (`active_queues`, which Celery workers answer too). Counting consumers this way works on every
   * broker: a Redis list has no consumer count of its own.
   */
  async consumers(opts?: BroadcastOptions): Promise<Map<string, string[]>> {
    return consumersOf(await this.broadcast('active_queues', opts));
  }

  /** The worker that holds task `id` now, and how (`query_task`); undefined when none that answers does. */
  async queryTask(id: string, opts?: BroadcastOptions): Promise<HeldTask | undefined> {
    let found: HeldTask | undefined;
    for (const [hostname, value] of replyEntries(await this.broadcast('query_task', { ...opts, arguments: { ids: [id] } }))) {
      const entry = value && typeof value === 'object' ? (value as Record<string, unknown>)[id] : undefined;
      const how = Array.isArray(entry) ? entry[0] : undefined;
      // Running beats held: a retry's new message can be reserved while the old one still runs.
      if ((how === 'active' || how === 'reserved' || how === 'scheduled') && (!found || how === 'active')) found = { hostname, how };
    }
    return found;
  }

  /** The workers that answer and the task names each has registered (`registered`). */
  async registered(opts?: BroadcastOptions): Promise<Map<string, string[]>> {
    return registeredOf(await this.broadcast('registered', opts));
  }
}

/** Where a worker holds a task (query_task): running, reserved (prefetched) or scheduled (an ETA). */
export interface HeldTask {
  hostname: string;
  how: 'active' | 'reserved' | 'scheduled';
}

function replyEntries(replies: Replies): Array<[string, unknown]> {
  return replies.flatMap((r) => Object.entries(r));
}

/** `active_queues` replies: the queues each worker consumes. */
export function consumersOf(replies: Replies): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [host, value] of replyEntries(replies)) {
    out.set(host, Array.isArray(value) ? value.flatMap((q) => (q && typeof q === 'object' && typeof (q as { name?: unknown }).name === 'string' ? [(q as { name: string }).name] : [])) : []);
  }
  return out;
}

/** `registered` replies: the task names each worker has. */
export function registeredOf(replies: Replies): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [host, value] of replyEntries(replies)) {
    // Celery answers names with their options ('add [rate_limit=10/s]'): the name is the first word.
    out.set(host, Array.isArray(value) ? value.map((n) => String(n).split(' ')[0]!) : []);
  }
  return out;
}

/**
 * What `sprig call --wait` tells while it waits, on stderr (stdout keeps only the result): the
 * task's state as it moves (received by, started on, retried and how often), from its events or,
 * with workers that send none, from asking them (query_task); and a task that no worker can take
 * (no worker consumes its queue), said after a few seconds instead of a wait with no end.
 */
import type { App } from '../app/app.js';
import { READY_STATES } from '../backends/types.js';
import { consumersOf, registeredOf, type HeldTask } from '../control/client.js';
import { broadcastToKnown } from './known-workers.js';
import type { SprigEvent } from '../events/types.js';

/** query_task's answer as a task state: running is STARTED, held (prefetched or waiting for its ETA) is RECEIVED. */
export function heldState(h: HeldTask): 'STARTED' | 'RECEIVED' {
  return h.how === 'active' ? 'STARTED' : 'RECEIVED';
}

/** One line per change of a task's state on its way (the outcome itself is printed by the caller). */
export class TaskProgress {
  private last = '';
  /** Retries so far: the most a delivery said it had been retried, or the task-retried events seen (events can come out of order). */
  private retriedSeen = 0;
  private deliveryRetries = 0;
  constructor(private readonly id: string) {}

  private get retries(): number {
    return Math.max(this.retriedSeen, this.deliveryRetries);
  }

  /** The line for an event of this task, when it says something new. */
  fromEvent(e: SprigEvent): string | undefined {
    if (!('uuid' in e) || e.uuid !== this.id) return undefined;
    switch (e.type) {
      case 'task-received':
        this.deliveryRetries = Math.max(this.deliveryRetries, e.retries ?? 0);
        return this.line('RECEIVED', `by ${e.hostname}`);
      case 'task-started':
        return this.line('STARTED', `on ${e.hostname}`);
      case 'task-retried':
        this.retriedSeen++;
        return this.line('RETRY', `on ${e.hostname}: ${e.exception}`);
      case 'task-progress':
        return this.line(typeof e.custom_state === 'string' ? e.custom_state.slice(0, 64) : 'PROGRESS', progressText(e.done, e.total, e.meta));
      default:
        return undefined;
    }
  }

  fromHeld(h: HeldTask): string | undefined {
    return this.line(heldState(h), `${h.how === 'active' ? 'on' : 'by'} ${h.hostname}${h.how === 'scheduled' ? ' (waiting for its ETA)' : ''}`);
  }

  private line(state: string, where: string): string | undefined {
    const text = `sprig: ${this.id.slice(0, 8)} ${state} ${where}${this.retries ? ` (retries so far: ${this.retries})` : ''}`;
    if (text === this.last) return undefined;
    this.last = text;
    return text;
  }
}

/**
 * `[########------------]  40% (4/10)`: a text progress bar, whole percents (so a task that reports
 * in a loop prints at most ~100 lines); without done/total, the meta as JSON.
 */
export function progressText(done: unknown, total: unknown, meta?: unknown, width = 20): string {
  if (typeof done === 'number' && typeof total === 'number' && Number.isFinite(done) && Number.isFinite(total) && total > 0) {
    const f = Math.max(0, Math.min(1, done / total));
    const fill = Math.round(f * width);
    return `[${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${String(Math.floor(f * 100)).padStart(3)}% (${done}/${total})`;
  }
  let m: string;
  try {
    m = meta === undefined || meta === null ? '' : JSON.stringify(meta);
  } catch {
    m = String(meta);
  }
  return m.length > 200 ? `${m.slice(0, 197)}...` : m;
}

export interface CallWatchOptions {
  id: string;
  queue: string;
  /** When to look for a consumer of the queue (default 3 s). */
  hintAfterMs?: number;
  /** How often to ask the workers where the task is while no event of it came (default 2 s). */
  pollMs?: number;
  write?: (line: string) => void;
}

/** The line that says no worker consumes `queue`, with the workers that answered and their queues. */
function noConsumerLine(queue: string, broker: string, consumers: ReadonlyMap<string, readonly string[]>): string {
  const others = [...consumers].map(([host, qs]) => `${host} on ${qs.join(', ') || 'no queue'}`).join('; ');
  return (
    `sprig: no worker consumes queue "${queue}" on ${broker} (${others ? `workers that answered: ${others}` : 'no worker answered'}); ` +
    `the task waits in the queue until one does, e.g. sprig worker --app tasks.ts -Q ${queue}`
  );
}

export function watchCall(app: App, o: CallWatchOptions): { stop(): void } {
  const write = o.write ?? ((l: string) => process.stderr.write(`${l}\n`));
  let stopped = false;
  const timer = setTimeout(() => void noConsumerHint(), o.hintAfterMs ?? 3000);
  const progress = new TaskProgress(o.id);
  const say = (line: string | undefined) => {
    if (line && !stopped) write(line);
  };
  let eventsSeen = false;
  let unsubscribe: (() => Promise<void>) | undefined;
  void (async () => {
    const broker = await app.broker();
    const off = await broker.subscribeEvents((e) => {
      const line = progress.fromEvent(e);
      if (line) eventsSeen = true;
      say(line);
    });
    if (stopped) await off();
    else unsubscribe = off;
  })().catch(() => undefined);
  // Workers started without -E send no events: ask them where the task is, until events come.
  let polling = false;
  const poll = setInterval(() => {
    if (eventsSeen || polling) return;
    polling = true;
    app.control
      .queryTask(o.id)
      .then((held) => held && !eventsSeen && say(progress.fromHeld(held)))
      .catch(() => undefined)
      .finally(() => (polling = false));
  }, o.pollMs ?? 2000);
  async function noConsumerHint(): Promise<void> {
    try {
      const meta = await (await app.backend()).get(o.id);
      if (stopped || (meta && READY_STATES.has(meta.status))) return;
      const consumers = await app.control.consumers();
      if (stopped || [...consumers.values()].some((qs) => qs.includes(o.queue))) return;
      write(noConsumerLine(o.queue, (await app.broker()).displayUrl, consumers));
    } catch {
      /* a hint only: the wait goes on */
    }
  }
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(poll);
      void unsubscribe?.().catch(() => undefined);
    },
  };
}

/**
 * After `sprig call` without --wait: asks the workers (1 s at most) whether one that consumes the queue
 * knows the task. Returns the exit code: 1 when workers answered and none of them knows the name
 * (every one of them would reject it), else 0; no worker on the queue is said, not an error.
 */
export async function checkCall(app: App, name: string, queue: string, write = (l: string) => process.stderr.write(`${l}\n`)): Promise<number> {
  let consumers: Map<string, string[]>;
  let registered: Map<string, string[]>;
  try {
    // The common answer (a worker on the queue knows the task) comes as soon as the workers this
    // broker had last time have answered (known-workers.ts); anything to warn about is said only
    // after the whole window, so a worker that answers late is never missed.
    const t0 = Date.now();
    const [q, r] = await Promise.all([broadcastToKnown(app, 'active_queues', {}), broadcastToKnown(app, 'registered', {})]);
    [consumers, registered] = [consumersOf(q), registeredOf(r)];
    const ok = [...consumers].some(([host, qs]) => qs.includes(queue) && registered.get(host)?.includes(name));
    if (ok) return 0;
    if (Date.now() - t0 < 950) [consumers, registered] = await Promise.all([app.control.consumers(), app.control.registered()]);
  } catch {
    return 0; // no remote control on this broker: nothing to tell
  }
  if (consumers.size === 0 && registered.size === 0) return 0; // nobody answered: nothing known
  const onQueue = [...consumers].filter(([, qs]) => qs.includes(queue)).map(([host]) => host);
  const asked = (onQueue.length ? onQueue : [...registered.keys()]).filter((host) => registered.has(host));
  if (asked.length && !asked.some((host) => registered.get(host)!.includes(name))) {
    const known = [...new Set(asked.flatMap((host) => registered.get(host)!))].sort();
    write(
      `sprig: no worker that answered knows a task named ${JSON.stringify(name)} (${asked.length === 1 ? asked[0] : `${asked.length} workers`}${onQueue.length ? ` on queue ${queue}` : ''}; ` +
        `registered: ${known.join(', ') || 'none'}); a worker that receives it rejects it as NotRegistered`,
    );
    return 1;
  }
  if (!onQueue.length) write(noConsumerLine(queue, (await app.broker()).displayUrl, consumers));
  return 0;
}

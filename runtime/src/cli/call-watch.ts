/**
 * What `sprig call --wait` tells while it waits, on stderr (stdout keeps only the result): a task
 * that no worker can take (no worker consumes its queue) is said after a few seconds, instead of a
 * wait with no end and no hint.
 */
import type { App } from '../app/app.js';
import { READY_STATES } from '../backends/types.js';

export interface CallWatchOptions {
  id: string;
  queue: string;
  /** When to look for a consumer of the queue (default 3 s). */
  hintAfterMs?: number;
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
    },
  };
}

/**
 * After `sprig call` without --wait: asks the workers (1 s) whether one that consumes the queue
 * knows the task. Returns the exit code: 1 when workers answered and none of them knows the name
 * (every one of them would reject it), else 0; no worker on the queue is said, not an error.
 */
export async function checkCall(app: App, name: string, queue: string, write = (l: string) => process.stderr.write(`${l}\n`)): Promise<number> {
  let consumers: Map<string, string[]>;
  let registered: Map<string, string[]>;
  try {
    [consumers, registered] = await Promise.all([app.control.consumers(), app.control.registered()]);
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

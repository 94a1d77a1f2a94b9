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
      const broker = await app.broker();
      const others = [...consumers].map(([host, qs]) => `${host} on ${qs.join(', ') || 'no queue'}`).join('; ');
      write(
        `sprig: no worker consumes queue "${o.queue}" on ${broker.displayUrl} (${others ? `workers that answered: ${others}` : 'no worker answered'}); ` +
          `the task waits in the queue until one does, e.g. sprig worker --app tasks.ts -Q ${o.queue}`,
      );
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

import type { Step } from '../blueprint.js';
import type { Worker } from '../worker.js';
import { findHandler } from '../control.js';
import type { ControlRequest } from '../../protocol/control.js';

/** Answers remote control broadcasts (Celery's pidbox) addressed to this worker. */
export const controlStep: Step<Worker> = {
  name: 'control',
  requires: ['consumer'],
  async start(w) {
    if (!w.broker.subscribeControl) {
      w.log.warn(`remote control is not available on the ${w.broker.kind} broker`);
      return;
    }
    w.controlOff = await w.broker.subscribeControl((req) => void handle(w, req));
  },
  async stop(w) {
    await w.controlOff?.();
  },
};

function addressedTo(w: Worker, req: ControlRequest): boolean {
  if (!req.destination || req.destination.length === 0) return true;
  return req.destination.includes(w.hostname);
}

async function handle(w: Worker, req: ControlRequest): Promise<void> {
  if (!req || typeof req.method !== 'string' || !addressedTo(w, req)) return;
  const handler = findHandler(req.method);
  let value: unknown;
  try {
    value = handler ? await handler(w, req.arguments ?? {}) : { error: `No such control command: ${req.method}` };
  } catch (err) {
    value = { error: (err as Error).message };
  }
  if (req.reply_to && w.broker.reply) {
    await w.broker.reply(req.reply_to, req.ticket, { [w.hostname]: value }).catch((err) => w.log.warn(`cannot reply to ${req.method}: ${(err as Error).message}`));
  }
}

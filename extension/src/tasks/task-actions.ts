/** Retry, revoke and purge: what the monitor rows and the palette commands do. */
import { randomUUID } from 'node:crypto';
import type { Sprig } from '../sprig.js';
import { parseArgsRepr, parseKwargsRepr } from './pyliteral.js';

export const RETRY_OF_HEADER = 'x-sprig-retry-of';

/** Re-enqueue a task with the same arguments under a new id, linked to the old one. */
export async function retryTask(sprig: Sprig, oldId: string): Promise<string> {
  const hub = sprig.hub;
  await hub.connection();
  const t = hub.state.tasks.get(oldId);
  const sent = hub.sentCall(oldId);
  const name = sent?.name ?? t?.name;
  if (!name) throw new Error(`Cannot retry ${oldId}: the monitor has not seen its name yet`);
  let args: unknown[];
  let kwargs: Record<string, unknown>;
  try {
    args = sent?.args ?? parseArgsRepr(t?.args ?? null);
    kwargs = sent?.kwargs ?? parseKwargsRepr(t?.kwargs ?? null);
  } catch (err) {
    throw new Error(`Cannot retry ${name}[${oldId}]: its arguments cannot be read back (${(err as Error).message})`, { cause: err });
  }
  const ours = t?.worker ? sprig.workers.byHostname(t.worker) : undefined;
  const queue = sent?.queue ?? t?.routingKey ?? t?.queue ?? ours?.launch.spec.queues[0];
  const newId = await hub.send({ name, args, kwargs, queue: queue ?? undefined, headers: { [RETRY_OF_HEADER]: oldId } });
  hub.link(oldId, newId);
  return newId;
}

/** Broadcast `revoke` to every worker (Celery's control command). */
export async function revokeTask(sprig: Sprig, taskId: string, terminate = false): Promise<boolean> {
  const { broker } = await sprig.hub.connection();
  if (!broker.broadcast) throw new Error(`The ${broker.kind} broker has no remote control: cannot revoke ${taskId}`);
  await broker.broadcast({
    method: 'revoke',
    arguments: { task_id: taskId, terminate, signal: 'SIGTERM' },
    destination: null,
    ticket: randomUUID(),
    reply_to: null,
  });
  return true;
}

export async function purgeQueue(sprig: Sprig, queue: string): Promise<number> {
  const { broker } = await sprig.hub.connection();
  return broker.purge(queue);
}

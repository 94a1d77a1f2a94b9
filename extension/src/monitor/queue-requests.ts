/**
 * The Queues view's requests, answered by the runtime (answerQueueRequest, the same code as
 * `sprig monitor --http` and `sprig queues`) on the monitor's connection.
 */
import { runtime } from '../runtime.js';
import type { EventHub } from './event-hub.js';
import type { QueueRequestMethod, Request, RequestMap } from './protocol.js';

type Admin = InstanceType<ReturnType<typeof runtime>['QueueAdmin']>;
const admins = new WeakMap<object, Admin>();

export async function queueRequest<M extends QueueRequestMethod | 'listQueues'>(hub: EventHub, m: Request<M>): Promise<RequestMap[M]['result']> {
  const { app } = await hub.connection();
  const rt = runtime();
  let admin = admins.get(app);
  if (!admin) admins.set(app, (admin = new rt.QueueAdmin(() => app.broker(), app.control)));
  const defaultQueue = (await app.config()).defaultQueue ?? 'celery';
  return (await rt.answerQueueRequest(admin, m.method, m.params as Record<string, unknown>, defaultQueue)) as RequestMap[M]['result'];
}

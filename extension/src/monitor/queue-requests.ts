/**
 * The Queues view's requests, answered with the runtime's QueueAdmin on the monitor's connection
 * (the same code as `sprig queues`).
 */
import { runtime } from '../runtime.js';
import type { EventHub } from './event-hub.js';
import type { QueueRequestMethod, Request, RequestMap } from './protocol.js';

const admins = new WeakMap<object, InstanceType<ReturnType<typeof runtime>['QueueAdmin']>>();

export async function queueRequest<M extends QueueRequestMethod | 'listQueues'>(hub: EventHub, m: Request<M>): Promise<RequestMap[M]['result']> {
  const { app } = await hub.connection();
  let admin = admins.get(app);
  if (!admin) admins.set(app, (admin = new (runtime().QueueAdmin)(() => app.broker(), app.control)));
  const queue = (m.params as { queue?: string }).queue ?? '';
  type R = RequestMap[M]['result'];
  switch (m.method) {
    case 'listQueues':
      return { queues: await admin.list({ queues: [(await app.config()).defaultQueue ?? 'celery'] }) } as R;
    case 'purgeQueue':
      return { purged: await admin.purge(queue) } as R;
    case 'pauseQueue':
      return { workers: (await admin.pause(queue)).length } as R;
    case 'resumeQueue':
      return { workers: (await admin.resume(queue)).length } as R;
    default: {
      const r = await admin.requeue(queue, { max: (m.params as { max?: number }).max });
      return { requeued: r.requeued, kept: r.kept.map((k) => k.reason) } as R;
    }
  }
}

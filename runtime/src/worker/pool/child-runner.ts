/** The code a pool child (process or thread) runs: load the tasks bundle, run jobs one at a time. */
import { parentPort, isMainThread } from 'node:worker_threads';
import { executeTask } from '../trace.js';
import { registeredTaskNames } from '../../app/registry.js';
import { SoftTimeLimitExceeded } from '../../errors.js';
import type { FromChild, ToChild } from './child-protocol.js';

export function runPoolChild(): void {
  process.setSourceMapsEnabled(true);
  const send: (m: FromChild) => void = isMainThread ? (m) => process.send!(m) : (m) => parentPort!.postMessage(m);
  const controllers = new Map<string, AbortController>();
  let reportMemory = false;
  const onMessage = (m: ToChild) => {
    switch (m.t) {
      case 'init':
        reportMemory = m.reportMemory;
        try {
          require(m.bundle);
          send({ t: 'ready', tasks: registeredTaskNames(), pid: process.pid });
        } catch (err) {
          send({ t: 'init-error', message: (err as Error).stack ?? String(err) });
        }
        break;
      case 'run': {
        const ac = new AbortController();
        controllers.set(m.job.id, ac);
        void executeTask(m.job, ac.signal).then((outcome) => {
          controllers.delete(m.job.id);
          send({ t: 'done', id: m.job.id, outcome, rss: reportMemory ? process.memoryUsage.rss() : undefined });
        });
        break;
      }
      case 'abort':
        controllers.get(m.id)?.abort(m.reason === 'soft' ? new SoftTimeLimitExceeded(m.seconds ?? 0) : new Error('terminated'));
        break;
      case 'exit':
        if (isMainThread) process.exit(0);
        else parentPort!.close();
        break;
    }
  };
  if (isMainThread) {
    process.on('message', onMessage);
    // The parent went away: don't linger as an orphan.
    process.on('disconnect', () => process.exit(0));
  } else parentPort!.on('message', onMessage);
}

/** The code a pool child (process or thread) runs: load the tasks bundle, run jobs one at a time. */
import { parentPort, isMainThread } from 'node:worker_threads';
import { errorToInfo, executeTask, LazyAbort, type Job, type Outcome } from '../trace.js';
import { discardedOutcome, discardReason } from '../hand-off.js';
import { registeredTaskNames } from '../../app/registry.js';
import { SoftTimeLimitExceeded, WorkerLostError } from '../../errors.js';
import { sendExact, unpackJob, unwrapExact, type FromChild, type JobDone, type ToChild } from './child-protocol.js';

/** Results sent back at least this often while a long batch runs (the parent refills meanwhile). */
const RESULTS_PER_MESSAGE = 32;

export function runPoolChild(): void {
  process.setSourceMapsEnabled(true);
  const send: (m: FromChild) => void = isMainThread
    ? (m) => {
        if (process.connected) sendExact((x) => process.send!(x), m);
      }
    : (m) => parentPort!.postMessage(m);
  const queue: Job[] = [];
  /** Ids of queued jobs revoked since they were sent here (each leaves the set when its turn comes). */
  const revoked = new Set<string>();
  let outbox: JobDone[] = [];
  let current: { id: string; abort: LazyAbort } | undefined;
  let running = false;
  let exiting = false;
  let reportMemory = false;
  let flushScheduled = false;

  const flush = () => {
    flushScheduled = false;
    if (!outbox.length) return;
    const results = outbox;
    outbox = [];
    send({ t: 'done', results, rss: reportMemory ? process.memoryUsage.rss() : undefined });
  };
  const exit = () => {
    flush();
    if (isMainThread) process.exit(0);
    else parentPort!.close();
  };
  // Cold: what is done goes back, the running job is left unfinished (no outcome: an acks-late
  // message stays unacknowledged). In a thread, process.exit ends only the thread.
  const exitNow = () => {
    flush();
    process.exit(0);
  };

  // Sequential: results of synchronous tasks pile up and go back in one message when the queue is
  // empty, RESULTS_PER_MESSAGE are waiting, or the event loop turns (setImmediate), so a batch costs
  // few IPC messages, and the parent sends the next jobs while this child still runs the last ones.
  const drain = async () => {
    if (running) return;
    running = true;
    while (queue.length) {
      const job = queue.shift()!;
      let outcome: Outcome;
      const why = discardReason(job.id, job.expires, revoked);
      if (why) {
        revoked.delete(job.id);
        outcome = discardedOutcome(why);
      } else {
        const abort = new LazyAbort();
        const id = job.id;
        // At once, not batched with results: the parent still holds this job as running.
        abort.onProgress = (report) => send({ t: 'progress', id, report });
        current = { id: job.id, abort };
        const run = executeTask(job, abort);
        outcome = run instanceof Promise ? await run : run;
        current = undefined;
      }
      outbox.push({ id: job.id, outcome });
      if (!queue.length || outbox.length >= RESULTS_PER_MESSAGE) flush();
      else if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    }
    running = false;
    if (exiting) exit();
  };

  const onMessage = (raw: ToChild) => {
    const m = unwrapExact(raw);
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
      case 'run':
        for (const j of m.jobs) queue.push(unpackJob(j));
        void drain();
        break;
      case 'abort': {
        if (current?.id === m.id) {
          current.abort.abort(m.reason === 'soft' ? new SoftTimeLimitExceeded(m.seconds ?? 0) : new Error('terminated'));
          break;
        }
        const i = queue.findIndex((j) => j.id === m.id);
        if (i >= 0 && m.reason === 'terminate') {
          queue.splice(i, 1);
          revoked.delete(m.id);
          outbox.push({ id: m.id, outcome: { state: 'FAILURE', ...errorToInfo(new WorkerLostError('terminated before it started')), runtime: 0 } });
          flush();
        }
        break;
      }
      case 'revoke':
        // Only a job still queued here: the running one goes on (revoke without terminate).
        if (queue.some((j) => j.id === m.id)) revoked.add(m.id);
        break;
      case 'shutdown':
        if (m.mode === 'cold') return exitNow();
        exiting = true;
        if (!running) exit();
        break;
    }
  };
  if (isMainThread) {
    process.on('message', onMessage);
    // The parent went away: nobody can take a result or enforce a time limit any more, so don't
    // linger as an orphan.
    process.on('disconnect', exitNow);
    // Shutdown is the worker's call, over this channel (like Celery's pool processes): Ctrl-C in a
    // terminal (Ctrl-Break too on Windows), or a service manager's SIGTERM, reaches the whole process
    // group or console, and a warm shutdown must be able to finish the task running here.
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGBREAK'] as const) process.on(sig, () => undefined);
  } else parentPort!.on('message', onMessage);
}

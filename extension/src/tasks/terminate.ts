/**
 * Revoke vs terminate. A revoke only stops a task that has not started (the worker discards it
 * when its turn comes); a running task needs `revoke(terminate)`, which each pool carries out its
 * own way (runtime/src/worker/pool/*: terminate()). The confirmation says which, for the pool of
 * the worker that runs the task.
 */
import type { Sprig } from '../sprig.js';
import { stopActionFor } from './stop-action.js';

export type PoolBehaviour = 'process' | 'thread' | 'async' | 'celery' | 'unknown';

/** What terminating a running task does on a pool of this kind (what the runtime's pools do). */
export function terminateBehaviour(pool: PoolBehaviour, pid?: number | null): string {
  switch (pool) {
    case 'process':
      return `its pool child process${pid ? ` (pid ${pid})` : ''} is killed with SIGKILL (Sprig's pool children ignore SIGTERM) and a new child takes its place; nothing in the task runs after that.`;
    case 'thread':
      return 'the worker thread running it is terminated (no finally block or cleanup in it runs) and a new thread takes its place.';
    case 'async':
      return "its ctx.signal is aborted and its pool slot freed at once. It runs in the worker's own process: code that ignores the signal keeps running there, and its result is discarded.";
    case 'celery':
      return `the Celery worker sends SIGTERM to the pool process running it${pid ? ` (pid ${pid})` : ''}.`;
    default:
      return 'the worker stops it the way its pool does (a process pool kills the child running it).';
  }
}

/** The pool of the worker that runs a task: ours from its launch, another from its `conf` reply. */
async function poolOf(sprig: Sprig, hostname: string): Promise<PoolBehaviour> {
  const ours = sprig.workers.byHostname(hostname);
  if (ours) return ours.launch.spec.pool;
  try {
    const { app } = await sprig.hub.connection();
    const [reply] = await app.control.broadcast('conf', { destination: [hostname], timeout: 1, limit: 1 });
    const conf = reply?.[hostname] as { pool?: unknown; worker_pool?: unknown } | undefined;
    const pool = conf?.pool ?? conf?.worker_pool;
    if (pool === 'process' || pool === 'thread' || pool === 'async') return pool;
    // A Celery worker's conf has worker_pool ('prefork', ...) or nothing we know.
    if (conf) return 'celery';
  } catch {
    /* no answer: said as unknown */
  }
  return 'unknown';
}

/** The pid of the process running the task (`query_task`'s worker_pid), when its worker says. */
async function pidOf(sprig: Sprig, hostname: string, taskId: string): Promise<number | undefined> {
  try {
    const { app } = await sprig.hub.connection();
    const [reply] = await app.control.broadcast('query_task', { destination: [hostname], timeout: 1, limit: 1, arguments: { ids: [taskId] } });
    const entry = (reply?.[hostname] as Record<string, unknown> | undefined)?.[taskId];
    const pid = Array.isArray(entry) ? (entry[1] as { worker_pid?: unknown } | undefined)?.worker_pid : undefined;
    return typeof pid === 'number' ? pid : undefined;
  } catch {
    return undefined;
  }
}

export interface TerminateOptions {
  /** Shown the text naming what will happen; false: do not terminate. */
  confirm(text: string): Promise<boolean>;
}

/**
 * Terminate a running task (revoke with terminate), after the confirmation. A task that has not
 * started is revoked instead (nothing to kill); one that ended is refused.
 */
export async function terminateTask(sprig: Sprig, taskId: string, opts: TerminateOptions): Promise<{ sent: boolean; text: string }> {
  const t = sprig.hub.state.tasks.get(taskId);
  const label = `${t?.name ?? 'task'}[${taskId.slice(0, 8)}]`;
  const action = t ? stopActionFor(t.state) : 'terminate';
  if (action === undefined) throw new Error(`${label} has ended (${t!.state}): there is nothing to revoke or terminate`);
  const worker = t?.worker ?? undefined;
  const pool = worker ? await poolOf(sprig, worker) : 'unknown';
  const pid = worker && action === 'terminate' && (pool === 'process' || pool === 'celery') ? await pidOf(sprig, worker, taskId) : undefined;
  const text =
    action === 'revoke'
      ? `${label} has not started: it is revoked, and the worker discards it when its turn comes.`
      : `Terminate ${label} on ${worker ?? 'its worker'}? On its ${pool === 'unknown' || pool === 'celery' ? '' : `${pool} `}pool ${terminateBehaviour(pool, pid)} It ends REVOKED (terminated).`;
  if (!(await opts.confirm(text))) return { sent: false, text };
  const { app } = await sprig.hub.connection();
  await app.control.revoke(taskId, { terminate: action === 'terminate', reply: false });
  return { sent: true, text };
}

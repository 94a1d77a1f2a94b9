/** Retry, revoke and purge: what the monitor rows and the palette commands do. */
import type { Sprig } from '../sprig.js';
import { inexactForJson, parseArgsRepr, parseKwargsRepr } from './pyliteral.js';
import type { EditedCall } from './edit-args.js';

export const RETRY_OF_HEADER = 'x-sprig-retry-of';

export interface RetryOptions {
  /**
   * Asked before retrying with arguments read back from the event's Python repr (the run stored no
   * result with its arguments): the repr may be cut or inexact. False: do not retry.
   */
  confirmRepr?: (why: string) => Promise<boolean>;
}

/** Where a retry's arguments come from, most exact first. */
type ArgsSource = { args: unknown[]; kwargs: Record<string, unknown>; from: 'sent' | 'result' | 'repr' };

/**
 * The exact args/kwargs of a run: the call this window sent, else the stored result's extended
 * fields (Sprig workers store them; Celery with result_extended), else — only when confirmed — the
 * reprs in its events.
 */
export async function argsOf(sprig: Sprig, oldId: string, name: string, opts: RetryOptions): Promise<ArgsSource> {
  const sent = sprig.hub.sentCall(oldId);
  if (sent) return { args: sent.args, kwargs: sent.kwargs, from: 'sent' };
  const { app } = await sprig.hub.connection();
  const meta = await (await app.backend()).get(oldId).catch(() => null);
  if (meta && Array.isArray(meta.args) && meta.kwargs && typeof meta.kwargs === 'object' && !Array.isArray(meta.kwargs)) {
    return { args: meta.args, kwargs: meta.kwargs, from: 'result' };
  }
  const t = sprig.hub.state.tasks.get(oldId);
  let args: unknown[];
  let kwargs: Record<string, unknown>;
  try {
    args = parseArgsRepr(t?.args ?? null);
    kwargs = parseKwargsRepr(t?.kwargs ?? null);
  } catch (err) {
    throw new Error(`Cannot retry ${name}[${oldId}]: no stored result holds its arguments, and its event's text cannot be read back (${(err as Error).message})`, { cause: err });
  }
  const inexact = inexactForJson(args) ?? inexactForJson(kwargs, 'kwargs');
  if (inexact) throw new Error(`Cannot retry ${name}[${oldId}] exactly: ${inexact} cannot be sent as JSON, and no stored result holds the original arguments`);
  const why = `${name}[${oldId}] stored no result with its arguments: retry with ${t?.args ?? '()'} ${t?.kwargs ?? '{}'} as read back from its event's text?`;
  if (!(await (opts.confirmRepr ?? (async () => false))(why))) throw new Error(`Retry of ${name}[${oldId}] cancelled: its exact arguments are not stored`);
  return { args, kwargs, from: 'repr' };
}

/** Re-enqueue a task with the same arguments under a new id, linked to the old one. */
export async function retryTask(sprig: Sprig, oldId: string, opts: RetryOptions = {}): Promise<string> {
  const hub = sprig.hub;
  await hub.connection();
  const t = hub.state.tasks.get(oldId);
  const sent = hub.sentCall(oldId);
  const name = sent?.name ?? t?.name;
  if (!name) throw new Error(`Cannot retry ${oldId}: the monitor has not seen its name yet`);
  const { args, kwargs } = await argsOf(sprig, oldId, name, opts);
  const ours = t?.worker ? sprig.workers.byHostname(t.worker) : undefined;
  const queue = sent?.queue ?? t?.routingKey ?? t?.queue ?? ours?.launch.spec.queues[0];
  const newId = await hub.send({ name, args, kwargs, queue: queue ?? undefined, headers: { [RETRY_OF_HEADER]: oldId } });
  hub.link(oldId, newId);
  return newId;
}

/**
 * Retry each task (the monitor's "Retry all FAILURE matching the filter"), a few at a time, each
 * with its exact arguments; one without stored arguments is skipped (no repr in bulk) and said.
 * `confirm` is asked once with the count; false: nothing is sent.
 */
export async function retryMany(sprig: Sprig, ids: readonly string[], confirm: (n: number) => Promise<boolean>): Promise<{ retried: number; skipped: number; errors: string[]; newIds: string[] }> {
  const unique = [...new Set(ids)];
  if (!unique.length || !(await confirm(unique.length))) return { retried: 0, skipped: 0, errors: [], newIds: [] };
  const errors: string[] = [];
  const newIds: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < unique.length) {
      const id = unique[next++]!;
      try {
        newIds.push(await retryTask(sprig, id));
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, unique.length) }, lane));
  return { retried: newIds.length, skipped: errors.length, errors: errors.slice(0, 20), newIds };
}

/**
 * "Edit and run": the run's exact arguments (or, when none is stored, what its event's repr reads
 * back as) in `edit`, then sent as a new task linked to the old one. Null when the user cancelled.
 */
export async function editAndRun(sprig: Sprig, oldId: string, edit: (name: string, start: EditedCall, exact: boolean) => Promise<EditedCall | undefined>): Promise<string | null> {
  const hub = sprig.hub;
  await hub.connection();
  const t = hub.state.tasks.get(oldId);
  const sent = hub.sentCall(oldId);
  const name = sent?.name ?? t?.name;
  if (!name) throw new Error(`Cannot edit ${oldId}: the monitor has not seen its name yet`);
  let start: EditedCall = { args: [], kwargs: {} };
  let exact = false;
  try {
    const a = await argsOf(sprig, oldId, name, { confirmRepr: async () => true });
    start = { args: a.args, kwargs: a.kwargs };
    exact = a.from !== 'repr';
  } catch {
    /* nothing readable: the user types them */
  }
  const call = await edit(name, start, exact);
  if (!call) return null;
  const queue = sent?.queue ?? t?.routingKey ?? t?.queue ?? undefined;
  const newId = await hub.send({ name, args: call.args, kwargs: call.kwargs, queue: queue ?? undefined, headers: { [RETRY_OF_HEADER]: oldId } });
  hub.link(oldId, newId);
  return newId;
}

/** Broadcast `revoke` to every worker: the runtime's remote control (Celery's app.control.revoke), no reply awaited. */
export async function revokeTask(sprig: Sprig, taskId: string, terminate = false): Promise<boolean> {
  const { app } = await sprig.hub.connection();
  await app.control.revoke(taskId, { terminate, reply: false });
  return true;
}

export async function purgeQueue(sprig: Sprig, queue: string): Promise<number> {
  const { broker } = await sprig.hub.connection();
  return broker.purge(queue);
}

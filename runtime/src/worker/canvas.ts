/**
 * What a worker does after a task with a canvas embed ran (celery/app/trace.py build_tracer and
 * celery/backends/base.py): on success the callbacks and the next chain step get the result
 * (prepended to their args unless immutable); a chord part is counted, and the part that
 * completes the chord calls its body once with the results in header order; on failure the
 * chain's remaining steps are marked failed, the chord fails with ChordError and the errbacks
 * are sent with the failed task's id.
 */
import { addList, applySignature, chainSig, chordSig, cloneSig, freeze, groupSig, resultIdOf, type ApplyContext, type CeleryOptions } from '../app/canvas-apply.js';
import { defaultApp } from '../app/app.js';
import type { TaskRequest } from '../protocol/message.js';
import type { Embed, SignatureDict } from '../protocol/signature.js';
import { pyrepr } from '../protocol/pyrepr.js';
import { toCeleryDateDone } from '../protocol/time.js';
import { ConfigError, type ExceptionInfo } from '../errors.js';
import { isExceptionInfo, type ResultBackend, type TaskState } from '../backends/types.js';
import type { Logger } from '../util/log.js';

/** States that fail a chord they are part of (Celery's PROPAGATE_STATES). */
const PROPAGATE: ReadonlySet<string> = new Set(['FAILURE', 'REVOKED']);

export interface WorkflowHost {
  backend: ResultBackend;
  log: Logger;
  resultExpires?: number;
}

/** Python's repr of a stored exception: `ValueError('boom')`. */
function excRepr(v: unknown): string {
  if (isExceptionInfo(v)) return `${v.exc_type}(${(Array.isArray(v.exc_message) ? v.exc_message : [v.exc_message]).map((m) => pyrepr(m)).join(', ')})`;
  return pyrepr(v);
}

export class Workflow {
  constructor(private readonly host: WorkflowHost) {}

  /** The queue each request came from: unrouted canvas steps it sends stay there. */
  private readonly queues = new WeakMap<TaskRequest, string>();

  private ctx(req: TaskRequest): ApplyContext {
    return defaultApp().canvasContext(this.queues.get(req));
  }

  /** Where `req` was delivered from (set before the other calls). */
  deliveredFrom(req: TaskRequest, queue: string): this {
    this.queues.set(req, queue);
    return this;
  }

  private embed(req: TaskRequest): Embed {
    return req.embed as Embed;
  }

  /** The options every message sent on behalf of `req` carries (Celery: parent_id, root_id, priority). */
  private lineage(req: TaskRequest): CeleryOptions {
    return { parent_id: req.id, root_id: req.rootId ?? req.id, ...(req.priority ? { priority: req.priority } : {}) };
  }

  /** After a success, before its result is stored (Celery applies them first): callbacks, then the next chain step. */
  async succeeded(req: TaskRequest, retval: unknown): Promise<void> {
    const e = this.embed(req);
    const ctx = this.ctx(req);
    const opts = this.lineage(req);
    await this.guard(req, 'callbacks', async () => {
      const callbacks = e.callbacks ?? [];
      if (callbacks.length === 1) await applySignature(callbacks[0]!, [retval], {}, opts, ctx);
      else if (callbacks.length > 1) {
        // trace.py: groups apart, the other callbacks together as one group.
        const groups = callbacks.filter((s) => s.subtask_type === 'group');
        const sigs = callbacks.filter((s) => s.subtask_type !== 'group');
        for (const g of groups) await applySignature(g, [retval], {}, opts, ctx);
        if (sigs.length) await applySignature(groupSig(sigs), [retval], {}, opts, ctx);
      }
    });
    const chain = e.chain;
    if (chain?.length) {
      await this.guard(req, 'the next chain step', async () => {
        const rest = chain.slice(0, -1);
        await applySignature(chain[chain.length - 1]!, [retval], {}, { ...opts, chain: rest.length ? rest : undefined }, ctx);
      });
    }
  }

  /** After the state is stored: a chord part is counted (success, failure or revoke). */
  async partReturned(req: TaskRequest, state: TaskState, result: unknown): Promise<void> {
    const body = this.embed(req).chord;
    if (!body || !req.groupId) return;
    await this.chordPart(req.id, req.groupId, req.groupIndex, body, state, result, req);
  }

  /** After a failure is stored: the chain's steps fail too (and count in their chords), then the errbacks. */
  async failed(req: TaskRequest, exc: ExceptionInfo, traceback: string | null): Promise<void> {
    const e = this.embed(req);
    for (const step of e.chain ?? []) {
      const id = step.options.task_id;
      if (step.subtask_type === null && typeof id === 'string') {
        await this.storeFailure(id, exc, traceback, step);
      }
      const chordBody = step.options.chord as SignatureDict | undefined;
      const gid = step.options.group_id;
      if (chordBody && typeof gid === 'string' && typeof id === 'string') {
        await this.chordPart(id, gid, typeof step.options.group_index === 'number' ? step.options.group_index : null, chordBody, 'FAILURE', exc, req);
      }
    }
    if (e.errbacks?.length) await this.errbacks(e.errbacks, req.id, req.rootId ?? req.id, req);
  }

  /** Celery's old-style errback call: each errback is sent with the failed task's id. */
  private async errbacks(errbacks: SignatureDict[], taskId: string, rootId: string, req: TaskRequest): Promise<void> {
    await applySignature(groupSig(errbacks), [taskId], {}, { parent_id: taskId, root_id: rootId }, this.ctx(req));
  }

  private async storeFailure(id: string, exc: ExceptionInfo, traceback: string | null, sig?: SignatureDict): Promise<void> {
    const meta = { status: 'FAILURE' as const, result: exc, traceback, children: [], date_done: toCeleryDateDone(new Date()), task_id: id } as Parameters<ResultBackend['store']>[0];
    if (sig?.options.group_id) meta.group_id = sig.options.group_id as string;
    if (sig?.options.parent_id) meta.parent_id = sig.options.parent_id as string;
    if (sig) Object.assign(meta, { name: sig.task, args: sig.args, kwargs: sig.kwargs });
    await this.host.backend.store(meta, this.host.resultExpires);
  }

  private async chordPart(taskId: string, groupId: string, groupIndex: number | null, body: SignatureDict, state: TaskState, result: unknown, req: TaskRequest): Promise<void> {
    const join = this.host.backend.chords;
    if (!join) {
      this.host.log.error(`Chord ${groupId}: the result backend (${this.host.backend.kind}) cannot join chord parts; the body ${body.task} never runs`);
      return;
    }
    const parts = await join.partReturn({ groupId, taskId, groupIndex, state, result });
    if (!parts) return;
    const failed = parts.find((p) => PROPAGATE.has(p.state));
    if (failed) await this.chordError(body, `Dependency ${failed.taskId} raised ${excRepr(failed.result)}`, req);
    else {
      try {
        await applySignature(body, [parts.map((p) => p.result)], {}, this.lineage(req), this.ctx(req));
      } catch (err) {
        // A broker that is down: the join stays, the part is redelivered and sends the body then.
        if (!(err instanceof ConfigError)) throw err;
        await this.chordError(body, `Callback error: ${(err as Error).name}(${pyrepr((err as Error).message)})`, req);
      }
    }
    await join.done(groupId);
  }

  /**
   * ctx.replace(sig), as Celery 5.2's Task.replace: a group becomes a chord with `celery.accumulate`
   * as its body (so its result is the list); the task's callbacks and errbacks are linked to it;
   * it is frozen with the task's id (the result the caller waits for is the replacement's), placed
   * where the task was (chord, group, index, root), and the rest of the task's chain follows it.
   */
  async replaced(req: TaskRequest, replacement: SignatureDict): Promise<void> {
    let sig = cloneSig(replacement);
    if (sig.subtask_type === 'group') sig = chordSig(sig, accumulateSig(0));
    const e = this.embed(req);
    if (e.callbacks?.length) addList(sig, 'link', e.callbacks);
    if (e.errbacks?.length) {
      // A chain's errbacks go to every step (canvas.py unchain_tasks), as Celery's chain.link_error does.
      if (sig.subtask_type === 'chain') sig.options.link_error = [...((sig.options.link_error as SignatureDict[] | undefined) ?? []), ...e.errbacks.map(cloneSig)];
      else addList(sig, 'link_error', e.errbacks);
    }
    freeze(sig, { task_id: req.id });
    const nesting = typeof req.headers.replaced_task_nesting === 'number' ? req.headers.replaced_task_nesting : 0;
    const rest = [...(e.chain ?? [])].reverse();
    if (rest.length) sig = chainSig([sig, ...rest]);
    const placement: CeleryOptions = { chord: e.chord ?? undefined, group_id: req.groupId ?? undefined, group_index: req.groupIndex ?? undefined };
    const headers = { ...((sig.options.headers as Record<string, unknown> | undefined) ?? {}), replaced_task_nesting: nesting + 1 };
    await applySignature(sig, [], {}, { ...this.lineage(req), ...placement, headers }, this.ctx(req));
  }

  /** ctx.addToChord(sig): the chord waits for one more part (Celery's backend.add_to_chord), then the part is sent. */
  async addToChord(req: TaskRequest, parts: readonly SignatureDict[]): Promise<void> {
    const join = this.host.backend.chords;
    if (!join?.add) throw new ConfigError(`addToChord: the result backend (${this.host.backend.kind}) cannot add parts to a chord (use redis://, postgres://, or the embedded broker for results)`);
    for (const part of parts) {
      const gid = part.options.group_id;
      if (typeof gid !== 'string') continue;
      await join.add(gid, 1);
      await applySignature(part, [], {}, this.lineage(req), this.ctx(req));
    }
  }

  /** Celery's chord_error_from_stack: the body's errbacks, then the body fails with ChordError. */
  private async chordError(body: SignatureDict, reason: string, req: TaskRequest): Promise<void> {
    this.host.log.error(`Chord ${body.task} failed: ${reason}`);
    const id = resultIdOf(body);
    const errbacks = (body.options.link_error as SignatureDict[] | undefined) ?? [];
    const exc: ExceptionInfo = { exc_type: 'ChordError', exc_message: [reason], exc_module: 'celery.exceptions' };
    if (id && errbacks.length) await this.errbacks(errbacks, id, (body.options.root_id as string | undefined) ?? id, req);
    if (id) await this.storeFailure(id, exc, null);
  }

  /** A canvas that cannot be sent as it is (a chord on rpc://): logged, not retried forever. */
  private async guard(req: TaskRequest, what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.host.log.error(`Task ${req.name}[${req.id}]: cannot send ${what}: ${err.message}`);
    }
  }
}

/** `celery.accumulate.s(index=i)`: the body Task.replace gives a group (its result is the header's list). */
function accumulateSig(index: number): SignatureDict {
  return { task: 'celery.accumulate', args: [], kwargs: { index }, options: {}, subtask_type: null, immutable: false };
}

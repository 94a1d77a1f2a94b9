/**
 * The canvas API (Celery's celery/canvas.py in TypeScript): `add.s(2, 2)`, `add.si(...)`,
 * `chain(a, b, c)` / `a.pipe(b)`, `group([...])`, `chord(header, body)`, and GroupResult.
 * A signature is Celery's dict (protocol/signature.ts) with a typed face: `Signature<In, R>` is a
 * step that takes the previous step's result `In` as its first argument and gives `R`, so a chain
 * whose steps do not fit is a compile error. It serializes exactly as Celery's does (toJSON), so
 * Python workers run a Sprig client's canvas and the other way round.
 */
import { parseSignature, type SignatureDict } from '../protocol/signature.js';
import { chainSig, chordSig, cloneSig, freeze, groupSig, applySignature, type ApplyContext, type CeleryOptions, type ResultNode } from './canvas-apply.js';
import { AsyncResult, type GetOptions } from './result.js';
import type { ResultBackend } from '../backends/types.js';
import { ConfigError } from '../errors.js';
import type { ApplyOptions } from './app.js';

/** What a signature needs of its app: a way to send (and the results' backend). */
export interface CanvasHost extends ApplyContext {
  asyncResult<R>(id: string, sent: Promise<void>): AsyncResult<R>;
}

/** Per-signature options (`.set({...})`, and applyAsync's): Sprig's names (applyAsync's), written in Celery's. */
export type SignatureOptions = Pick<
  ApplyOptions,
  | 'taskId'
  | 'queue'
  | 'countdown'
  | 'eta'
  | 'expires'
  | 'priority'
  | 'timeLimit'
  | 'softTimeLimit'
  | 'ignoreResult'
  | 'serializer'
  | 'compression'
  | 'headers'
  | 'parentId'
  | 'rootId'
  | 'link'
  | 'linkError'
> & {
  /** Make it immutable (true) or not: an immutable signature ignores the previous step's result. */
  immutable?: boolean;
};

/** A Sprig signature, or Celery's dict of one. */
export type SignatureLike = { toDict(): SignatureDict } | SignatureDict;

const NAMES: Record<string, string> = {
  taskId: 'task_id',
  queue: 'queue',
  countdown: 'countdown',
  eta: 'eta',
  expires: 'expires',
  priority: 'priority',
  timeLimit: 'time_limit',
  softTimeLimit: 'soft_time_limit',
  ignoreResult: 'ignore_result',
  serializer: 'serializer',
  compression: 'compression',
  headers: 'headers',
  parentId: 'parent_id',
  rootId: 'root_id',
};

/** A signature's dict, checked (a hand-written dict is validated as a received one is). */
export function toSigDict(s: SignatureLike): SignatureDict {
  return typeof (s as { toDict?: unknown }).toDict === 'function' ? (s as { toDict(): SignatureDict }).toDict() : parseSignature(structuredClone(s));
}

export function toSigDicts(v: SignatureLike | SignatureLike[] | undefined | null): SignatureDict[] | undefined {
  if (v === undefined || v === null) return undefined;
  return (Array.isArray(v) ? v : [v]).map(toSigDict);
}

/** Sprig's option names to Celery's (dates as ISO 8601, links as signature dicts). */
export function toCeleryOptions(o: SignatureOptions): CeleryOptions {
  const out: CeleryOptions = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || k === 'immutable') continue;
    if (k === 'link') out.link = toSigDicts(v as SignatureLike[]);
    else if (k === 'linkError') out.link_error = toSigDicts(v as SignatureLike[]);
    else if (NAMES[k]) out[NAMES[k]] = v instanceof Date ? v.toISOString() : v;
    else throw new ConfigError(`unknown signature option ${JSON.stringify(k)}: use ${[...Object.keys(NAMES), 'immutable', 'link', 'linkError'].join(', ')}`);
  }
  return out;
}

/** A step of a canvas: takes `In` (the previous step's result) and gives `Out`. Types only. */
export interface CanvasStep<In, Out> {
  /** Phantom (never set): makes `In` contravariant, so a step that cannot take `In` does not fit. */
  readonly __in?: (input: In) => void;
  readonly __out?: Out;
  toDict(): SignatureDict;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyStep = CanvasStep<any, any>;

abstract class CanvasNode<In, Out> implements CanvasStep<In, Out> {
  declare readonly __in?: (input: In) => void;
  declare readonly __out?: Out;
  constructor(
    protected dict: SignatureDict,
    protected readonly host: () => CanvasHost,
  ) {}

  /** The app it is sent on. */
  get canvasHost(): () => CanvasHost {
    return this.host;
  }

  /** Celery's dict of this signature (what a message carries); a copy. */
  toDict(): SignatureDict {
    return cloneSig(this.dict);
  }

  toJSON(): SignatureDict {
    return this.toDict();
  }

  get name(): string {
    return this.dict.task;
  }

  get options(): Readonly<CeleryOptions> {
    return this.dict.options;
  }

  get immutable(): boolean {
    return this.dict.immutable;
  }

  /** Set options (Celery's `sig.set(...)`): returns this signature. */
  set(o: SignatureOptions): this {
    if (o.immutable !== undefined) this.dict.immutable = o.immutable;
    Object.assign(this.dict.options, toCeleryOptions(o));
    return this;
  }

  /** Add a callback (run with this one's result after it succeeds). */
  link(callback: SignatureLike): this {
    this.dict.options.link = [...((this.dict.options.link as SignatureDict[] | undefined) ?? []), toSigDict(callback)];
    return this;
  }

  /** Add an errback (run with this one's task id after it fails). */
  linkError(errback: SignatureLike): this {
    this.dict.options.link_error = [...((this.dict.options.link_error as SignatureDict[] | undefined) ?? []), toSigDict(errback)];
    return this;
  }

  /** Then `next` with this one's result (Celery's `a | b`). */
  pipe<R2>(next: CanvasStep<Out, R2>): Signature<In, R2> {
    return chainOf<In, R2>([this, next], this.host);
  }

  /** Send it now; the partial args go before the signature's own (unless it is immutable). */
  protected applyNode(args: unknown[], kwargs: Record<string, unknown>, opts: SignatureOptions): { node: ResultNode; sent: Promise<void> } {
    const host = this.host();
    const d = cloneSig(this.dict);
    const celery = toCeleryOptions(opts);
    if (opts.immutable !== undefined) d.immutable = opts.immutable;
    // Ids first (Celery's freeze), so the results can be named before anything is sent.
    const node = freeze(d, celery.task_id ? { task_id: celery.task_id } : {});
    const sent = applySignature(d, args, kwargs, celery, host).then(() => undefined);
    sent.catch(() => undefined);
    return { node, sent };
  }
}

/** A task (or chain, or chord) signature: `add.s(2)` takes the previous result as its first argument. */
export class Signature<In = void, R = unknown> extends CanvasNode<In, R> {
  /** Send it: an AsyncResult of its (last) task; its `parent` is the step before. */
  applyAsync(args: unknown[] = [], kwargs: Record<string, unknown> = {}, opts: SignatureOptions = {}): AsyncResult<R> {
    const { node, sent } = this.applyNode(args, kwargs, opts);
    return resultOf(node, this.host(), sent) as AsyncResult<R>;
  }

  delay(...args: unknown[]): AsyncResult<R> {
    return this.applyAsync(args);
  }

  clone(): Signature<In, R> {
    return new Signature<In, R>(this.toDict(), this.host);
  }
}

/** A group: its tasks run in parallel; its result is the list of theirs, in order. */
export class Group<In = void, R = unknown> extends CanvasNode<In, R[]> {
  applyAsync(args: unknown[] = [], kwargs: Record<string, unknown> = {}, opts: SignatureOptions = {}): GroupResult<R> {
    const { node, sent } = this.applyNode(args, kwargs, opts);
    return resultOf(node, this.host(), sent) as GroupResult<R>;
  }

  delay(...args: unknown[]): GroupResult<R> {
    return this.applyAsync(args);
  }

  get length(): number {
    return (this.dict.kwargs.tasks as SignatureDict[]).length;
  }
}

function resultOf(node: ResultNode, host: CanvasHost, sent: Promise<void>): AsyncResult | GroupResult {
  const parent = node.parent ? resultOf(node.parent, host, sent) : undefined;
  const r = 'groupId' in node ? new GroupResult(node.groupId, node.results.map((n) => resultOf(n, host, sent)), host, sent) : host.asyncResult(node.id, sent);
  if (parent) (r as { parent?: AsyncResult | GroupResult }).parent = parent;
  return r;
}

export function taskSignature<In, R>(name: string, args: unknown[], host: () => CanvasHost, immutable = false): Signature<In, R> {
  return new Signature<In, R>({ task: name, args, kwargs: {}, options: {}, subtask_type: null, immutable }, host);
}

/** The app of the first node that has one. */
function hostOf(nodes: readonly AnyStep[]): () => CanvasHost {
  // Duck-typed: a tasks file may load another copy of the runtime than its caller.
  for (const n of nodes) {
    const host = (n as { canvasHost?: () => CanvasHost }).canvasHost;
    if (typeof host === 'function') return host;
  }
  throw new ConfigError('a canvas needs at least one Sprig signature (task.s(...)) to know its app');
}

function chainOf<In, R>(steps: readonly AnyStep[], host?: () => CanvasHost): Signature<In, R> {
  return new Signature<In, R>(chainSig(steps.map((s) => s.toDict())), host ?? hostOf(steps));
}

/* eslint-disable @typescript-eslint/no-explicit-any */
/** Run steps one after another, each with the previous result as its first argument. */
export function chain<I, A>(a: CanvasStep<I, A>): Signature<I, A>;
export function chain<I, A, B>(a: CanvasStep<I, A>, b: CanvasStep<A, B>): Signature<I, B>;
export function chain<I, A, B, C>(a: CanvasStep<I, A>, b: CanvasStep<A, B>, c: CanvasStep<B, C>): Signature<I, C>;
export function chain<I, A, B, C, D>(a: CanvasStep<I, A>, b: CanvasStep<A, B>, c: CanvasStep<B, C>, d: CanvasStep<C, D>): Signature<I, D>;
export function chain<I, A, B, C, D, E>(a: CanvasStep<I, A>, b: CanvasStep<A, B>, c: CanvasStep<B, C>, d: CanvasStep<C, D>, e: CanvasStep<D, E>): Signature<I, E>;
export function chain<I, A, B, C, D, E, F>(a: CanvasStep<I, A>, b: CanvasStep<A, B>, c: CanvasStep<B, C>, d: CanvasStep<C, D>, e: CanvasStep<D, E>, f: CanvasStep<E, F>): Signature<I, F>;
/** Longer chains (or a list): the steps' types are not checked against each other. */
export function chain(steps: readonly CanvasStep<any, any>[]): Signature<any, unknown>;
export function chain(...steps: any[]): Signature<any, unknown> {
  const list: AnyStep[] = steps.length === 1 && Array.isArray(steps[0]) ? steps[0] : steps;
  return chainOf(list);
}

type OutOf<S> = S extends CanvasStep<any, infer O> ? O : never;
type InOf<S> = S extends CanvasStep<infer I, any> ? I : never;

/** Run signatures in parallel; the result is the list of their results, in order. */
export function group<S extends CanvasStep<any, any>>(tasks: readonly S[]): Group<InOf<S>, OutOf<S>> {
  return new Group(groupSig(tasks.map((t) => t.toDict())), hostOf(tasks));
}

/** Run `header` in parallel, then `body` once with the list of their results (in header order). */
export function chord<S extends CanvasStep<any, any>, R>(header: readonly S[] | Group<any, OutOf<S>>, body: CanvasStep<OutOf<S>[], R>): Signature<InOf<S>, R> {
  const h = isGroup(header) ? header.toDict() : groupSig((header as readonly S[]).map((t) => t.toDict()));
  const host = isGroup(header) ? hostOf([header]) : hostOf([...(header as readonly S[]), body]);
  return new Signature(chordSig(h, body.toDict()), host);
}
/* eslint-enable @typescript-eslint/no-explicit-any */

function isGroup(v: unknown): v is Group<any, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return !Array.isArray(v) && (v as { toDict?: () => SignatureDict }).toDict?.().subtask_type === 'group';
}

/** Celery's GroupResult: the results of a group's tasks, in order. */
export class GroupResult<R = unknown> {
  parent?: AsyncResult | GroupResult;
  constructor(
    readonly id: string,
    readonly results: ReadonlyArray<AsyncResult<R> | GroupResult>,
    private readonly host: Pick<CanvasHost, 'backend' | 'asyncResult'>,
    readonly sent: Promise<void> = Promise.resolve(),
  ) {
    sent.catch(() => undefined);
  }

  /** Wait for every task; a failure throws its TaskError (propagate: false gives the error info instead). */
  async get(opts: GetOptions = {}): Promise<R[]> {
    await this.sent;
    const deadline = opts.timeout === undefined ? undefined : Date.now() + opts.timeout * 1000;
    const out: R[] = [];
    for (const r of this.results) {
      const timeout = deadline === undefined ? undefined : Math.max(0.001, (deadline - Date.now()) / 1000);
      out.push((await r.get({ ...opts, timeout })) as R);
    }
    return out;
  }

  /** Every task has finished (succeeded, failed or been revoked). */
  async ready(): Promise<boolean> {
    for (const r of this.results) if (!(await r.ready())) return false;
    return true;
  }

  /** How many tasks have succeeded. */
  async completedCount(): Promise<number> {
    let n = 0;
    for (const r of this.results) {
      if (r instanceof GroupResult) n += (await r.ready()) ? 1 : 0;
      else if ((await r.status()) === 'SUCCESS') n++;
    }
    return n;
  }

  async successful(): Promise<boolean> {
    return (await this.completedCount()) === this.results.length;
  }

  /** Celery's `as_tuple()`: `[[id, parent], [child tuples...]]`. */
  asTuple(): unknown {
    return [[this.id, null], this.results.map((r) => (r instanceof GroupResult ? r.asTuple() : [[r.id, null], null]))];
  }

  /** Store it (`celery-taskset-meta-<id>` on Redis, as Celery's GroupResult.save does). */
  async save(): Promise<void> {
    const b = await this.host.backend();
    await saveGroup(b, this.id, this.asTuple());
  }

  toJSON(): { id: string; results: unknown[] } {
    return { id: this.id, results: this.results.map((r) => r.toJSON()) };
  }
}

async function saveGroup(b: ResultBackend, id: string, tuple: unknown): Promise<void> {
  if (b.saveGroup) return b.saveGroup(id, tuple);
  await b.store({ status: 'SUCCESS', result: { result: tuple }, traceback: null, children: [], date_done: null, task_id: `taskset-${id}` });
}

async function restoreTuple(b: ResultBackend, id: string): Promise<unknown> {
  if (b.restoreGroup) return b.restoreGroup(id);
  const m = await b.get(`taskset-${id}`);
  return m ? (m.result as { result?: unknown })?.result : null;
}

/** GroupResult.restore(id): a saved group (by Celery or Sprig), or null. */
export async function restoreGroupResult(host: Pick<CanvasHost, 'backend' | 'asyncResult'>, id: string): Promise<GroupResult | null> {
  const tuple = await restoreTuple(await host.backend(), id);
  if (tuple === null || tuple === undefined) return null;
  const fromTuple = (t: unknown): AsyncResult | GroupResult => {
    if (!Array.isArray(t) || t.length !== 2) throw new ConfigError(`saved group ${id} is not in Celery's format [[id, parent], children]`);
    const [head, nodes] = t as [unknown, unknown];
    const rid = Array.isArray(head) ? head[0] : head;
    if (typeof rid !== 'string') throw new ConfigError(`saved group ${id}: a result id is not a string`);
    if (Array.isArray(nodes)) return new GroupResult(rid, nodes.map(fromTuple), host);
    return host.asyncResult(rid, Promise.resolve());
  };
  const g = fromTuple(tuple);
  if (!(g instanceof GroupResult)) throw new ConfigError(`saved group ${id} holds a single result, not a group`);
  return g;
}



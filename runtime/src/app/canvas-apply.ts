/**
 * Applying a signature the way Celery 5.2's canvas does (celery/canvas.py): a task is one message;
 * a chain sends its first step with the rest in the `chain` field (last first); a group sends
 * every task with the same `group_id` and its `group_index`; a chord sends its header as a group
 * whose tasks carry the body in the `chord` field, after telling the backend the chord's size.
 * Used by the client's canvas (canvas.ts) and by the worker (worker/canvas.ts), which applies the
 * next step, callbacks, errbacks and chord bodies.
 */
import { randomUUID } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { descendSize, type SignatureDict } from '../protocol/signature.js';
import type { ResultBackend } from '../backends/types.js';

/** Options in Celery's apply_async names (what a signature's `options` holds). */
export type CeleryOptions = Record<string, unknown>;

/** Where an applied signature's results are: one task id, or a group of them. */
export type ResultNode = { id: string; parent?: ResultNode } | { groupId: string; results: ResultNode[]; parent?: ResultNode };

export interface ApplyContext {
  /** Send one task message (`options` in Celery's names; `task_id` always set). */
  send(name: string, args: unknown[], kwargs: Record<string, unknown>, options: CeleryOptions): Promise<void>;
  backend(): Promise<ResultBackend>;
}

/** A deep copy of a signature (its options, links and nested signatures are never shared). */
export function cloneSig(s: SignatureDict): SignatureDict {
  return structuredClone(s);
}

/** Celery's Signature._merge: partial args prepended (unless immutable), kwargs and options merged (group_id kept). */
function merge(s: SignatureDict, args: readonly unknown[], kwargs: Record<string, unknown>, options: CeleryOptions): { args: unknown[]; kwargs: Record<string, unknown>; options: CeleryOptions } {
  const o: CeleryOptions = { ...s.options };
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined || v === null) continue;
    if (k === 'group_id' && o.group_id !== undefined && o.group_id !== null) continue;
    o[k] = v;
  }
  if (s.immutable) return { args: s.args, kwargs: s.kwargs, options: o };
  return { args: args.length ? [...args, ...s.args] : s.args, kwargs: Object.keys(kwargs).length ? { ...s.kwargs, ...kwargs } : s.kwargs, options: o };
}

const tasksOf = (s: SignatureDict) => s.kwargs.tasks as SignatureDict[];

/** A chord's header as a group signature. */
function headerOf(s: SignatureDict): SignatureDict {
  const h = s.kwargs.header as SignatureDict | SignatureDict[];
  return Array.isArray(h) ? groupSig(h) : h;
}

export function groupSig(tasks: SignatureDict[], options: CeleryOptions = {}): SignatureDict {
  return { task: 'celery.group', args: [], kwargs: { tasks }, options, subtask_type: 'group', immutable: false };
}

export function chainSig(tasks: SignatureDict[], options: CeleryOptions = {}): SignatureDict {
  return { task: 'celery.chain', args: [], kwargs: { tasks }, options, subtask_type: 'chain', immutable: false };
}

export function chordSig(header: SignatureDict, body: SignatureDict, options: CeleryOptions = {}): SignatureDict {
  return { task: 'celery.chord', args: [], kwargs: { kwargs: {}, header, body }, options, subtask_type: 'chord', immutable: false };
}

/** A chain's steps with nested chains spliced in and `group, x` upgraded to `chord(group, x)` (canvas.py prepare_steps). */
function chainSteps(s: SignatureDict): SignatureDict[] {
  const flat: SignatureDict[] = [];
  const walk = (tasks: SignatureDict[]) => {
    for (const t of tasks) if (t.subtask_type === 'chain') walk(tasksOf(t));
    else flat.push(cloneSig(t));
  };
  walk(tasksOf(s));
  // link_error on the chain goes to every step (canvas.py unchain_tasks).
  const errbacks = s.options.link_error as SignatureDict[] | undefined;
  const steps: SignatureDict[] = [];
  for (let i = 0; i < flat.length; i++) {
    let t = flat[i]!;
    if (t.subtask_type === 'group' && i + 1 < flat.length) t = chordSig(t, flat[++i]!);
    if (errbacks?.length) addList(t, 'link_error', errbacks);
    steps.push(t);
  }
  return steps;
}

/** Celery's `sig.link(x)` / `sig.link_error(x)` for each of `sigs` (a group's link to its first task, a chord's to its body, ...). */
export function addList(s: SignatureDict, key: 'link' | 'link_error', sigs: readonly SignatureDict[]): void {
  if (s.subtask_type === 'chord') return addList(s.kwargs.body as SignatureDict, key, sigs);
  if (s.subtask_type === 'group') {
    const ts = tasksOf(s);
    // A group's link goes to its first task, made immutable (canvas.py group.link); errbacks to every task.
    if (key === 'link') return addList(ts[0]!, key, sigs.map((x) => ({ ...cloneSig(x), immutable: true })));
    for (const t of ts) addList(t, key, sigs);
    return;
  }
  if (s.subtask_type === 'chain') {
    const ts = tasksOf(s);
    return addList(key === 'link' ? ts[ts.length - 1]! : ts[0]!, key, sigs);
  }
  const cur = (s.options[key] as SignatureDict[] | undefined) ?? [];
  s.options[key] = [...cur, ...sigs.map(cloneSig)];
}

/**
 * Give every task in `s` its id now (Celery's freeze), so the chain can name its steps before
 * any runs: returns where the result will be. `last` options go to the task whose result is
 * the signature's (a chain's last step, a chord's body).
 */
export function freeze(s: SignatureDict, last: CeleryOptions = {}): ResultNode {
  const set = (o: CeleryOptions) => {
    for (const [k, v] of Object.entries(last)) if (v !== undefined && v !== null) o[k] = v;
  };
  switch (s.subtask_type) {
    case 'chain': {
      const steps = chainSteps(s);
      s.kwargs.tasks = steps;
      let node: ResultNode | undefined;
      steps.forEach((t, i) => {
        const n = freeze(t, i === steps.length - 1 ? last : pick(last, ['root_id']));
        n.parent = node;
        node = n;
      });
      return node ?? { id: String((s.options.task_id as string) ?? randomUUID()) };
    }
    case 'group': {
      const gid = (s.options.task_id as string) ?? (s.options.task_id = randomUUID());
      const tasks = unrollGroup(s);
      s.kwargs.tasks = tasks;
      const { task_id: _ignored, ...rest } = last;
      return { groupId: gid, results: tasks.map((t, i) => freeze(t, { ...pick(rest, ['root_id', 'chord']), group_id: gid, group_index: i })) };
    }
    case 'chord': {
      const header = headerOf(s);
      s.kwargs.header = header;
      const body = s.kwargs.body as SignatureDict;
      const gid = (header.options.task_id as string) ?? (header.options.task_id = randomUUID());
      const bodyNode = freeze(body, last);
      header.kwargs.tasks = unrollGroup(header);
      const headerNode: ResultNode = { groupId: gid, results: [] };
      deepestParent(bodyNode).parent = headerNode;
      return bodyNode;
    }
    default: {
      set(s.options);
      const id = (s.options.task_id as string) ?? (s.options.task_id = randomUUID());
      return { id };
    }
  }
}

function deepestParent(n: ResultNode): ResultNode {
  while (n.parent) n = n.parent;
  return n;
}

function pick(o: CeleryOptions, keys: readonly string[]): CeleryOptions {
  const out: CeleryOptions = {};
  for (const k of keys) if (o[k] !== undefined && o[k] !== null) out[k] = o[k];
  return out;
}

/** A group's tasks with nested groups flattened (canvas.py _freeze_unroll). */
function unrollGroup(g: SignatureDict): SignatureDict[] {
  const out: SignatureDict[] = [];
  const walk = (tasks: SignatureDict[]) => {
    for (const t of tasks) if (t.subtask_type === 'group') walk(tasksOf(t));
    else out.push(t);
  };
  walk(tasksOf(g));
  return out;
}

/** Options that say where a signature's result goes; a chord's header must not get them (canvas.py chord.run). */
const RESULT_PLACEMENT = ['chain', 'chord', 'task_id', 'group_id', 'group_index'];

/** Refuse a chord on a backend that cannot join its parts (rpc://): it would never finish. */
export async function ensureChordsAllowed(ctx: ApplyContext): Promise<ResultBackend> {
  const backend = await ctx.backend();
  if (!backend.chords) {
    throw new ConfigError(
      `a chord needs a result backend that can join its parts: ${backend.kind} cannot (set resultBackend to redis:// or postgres://, or use the embedded broker or memory:// for results)`,
    );
  }
  return backend;
}

/**
 * Apply `s` with partial args/kwargs and extra options (Celery's `sig.apply_async(args, kwargs, **options)`).
 * Resolves when every message it sends is with the broker.
 */
export async function applySignature(s: SignatureDict, args: readonly unknown[], kwargs: Record<string, unknown>, options: CeleryOptions, ctx: ApplyContext): Promise<ResultNode> {
  switch (s.subtask_type) {
    case 'chain':
      return applyChain(cloneSig(s), args, kwargs, options, ctx);
    case 'group':
      return applyGroup(cloneSig(s), args, kwargs, options, ctx);
    case 'chord':
      return applyChord(cloneSig(s), args, kwargs, options, ctx);
    default: {
      const m = merge(s, args, kwargs, options);
      const id = (m.options.task_id as string) ?? randomUUID();
      await ctx.send(s.task, m.args, m.kwargs, { ...m.options, task_id: id });
      return { id };
    }
  }
}

async function applyChain(s: SignatureDict, args: readonly unknown[], kwargs: Record<string, unknown>, options: CeleryOptions, ctx: ApplyContext): Promise<ResultNode> {
  const opts = { ...s.options, ...options };
  const partial = s.immutable ? s.args : [...args, ...s.args];
  s.options = opts;
  const steps = chainSteps(s);
  if (!steps.length) return { id: randomUUID() };
  if (steps.some((t) => t.subtask_type === 'chord')) await ensureChordsAllowed(ctx);
  // The result's place (task_id, group_id, chord, group_index) goes to the last step; the rest to the first.
  const placement = pick(opts, RESULT_PLACEMENT.filter((k) => k !== 'chain'));
  const { task_id: _t, group_id: _g, group_index: _i, chord: _c, link, link_error: _e, ...first } = opts;
  const nodes = steps.map((t, i) => freeze(t, i === steps.length - 1 ? { ...placement, root_id: opts.root_id } : pick(opts, ['root_id'])));
  for (let i = 1; i < nodes.length; i++) nodes[i]!.parent = nodes[i - 1];
  if (link) addList(steps[steps.length - 1]!, 'link', link as SignatureDict[]);
  const rest = steps.slice(1).reverse();
  const prevChain = (opts.chain as SignatureDict[] | undefined) ?? [];
  // A chain applied as a step of another chain (the worker pops it) continues with the outer steps after its own.
  const chain = [...prevChain, ...rest];
  await applySignature(steps[0]!, partial, kwargs, { ...first, chain: chain.length ? chain : undefined }, ctx);
  return nodes[nodes.length - 1]!;
}

async function applyGroup(s: SignatureDict, args: readonly unknown[], kwargs: Record<string, unknown>, options: CeleryOptions, ctx: ApplyContext): Promise<ResultNode> {
  const opts: CeleryOptions = { ...s.options, ...options };
  if (opts.link) throw new ConfigError('cannot link a callback to a group: use a chord');
  const gid = (opts.task_id as string) ?? randomUUID();
  delete opts.task_id;
  delete opts.group_index;
  opts.group_id = gid;
  const tasks = unrollGroup(s);
  const chord = opts.chord as SignatureDict | undefined;
  if (chord) {
    const backend = await ensureChordsAllowed(ctx);
    await backend.chords!.setSize(gid, tasks.reduce((n, t) => n + descendSize(t), 0));
  }
  const results: ResultNode[] = [];
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i]!;
    const partial = args.length && !t.immutable ? args : [];
    // Each task has its own id (a group's id is not theirs) and its place in the group.
    results.push(await applySignature(t, partial, kwargs, { ...opts, group_id: gid, group_index: i, chain: undefined }, ctx));
  }
  return { groupId: gid, results };
}

async function applyChord(s: SignatureDict, args: readonly unknown[], kwargs: Record<string, unknown>, options: CeleryOptions, ctx: ApplyContext): Promise<ResultNode> {
  await ensureChordsAllowed(ctx);
  const partial = s.immutable ? s.args : [...args, ...s.args];
  const header = headerOf(s);
  const opts: CeleryOptions = { ...s.options, ...options };
  const body = cloneSig(s.kwargs.body as SignatureDict);
  // The chord's own options (its place in an outer chain, group or chord; parent and root) go to the body.
  const bodyId = opts.task_id as string | undefined;
  const { task_id: _t, ...toBody } = opts;
  const bodyNode = freeze(body, { ...toBody, ...(bodyId ? { task_id: bodyId } : {}) });
  const gid = (header.options.task_id as string) ?? randomUUID();
  const headerOpts: CeleryOptions = {};
  for (const [k, v] of Object.entries(opts)) if (!RESULT_PLACEMENT.includes(k) && k !== 'link' && k !== 'link_error') headerOpts[k] = v;
  const tasks = unrollGroup(header);
  if (!tasks.length) {
    await applySignature(body, [[]], {}, {}, ctx);
    return bodyNode;
  }
  const headerNode = await applyGroup(groupSig(tasks, { ...header.options, task_id: gid }), partial, kwargs, { ...headerOpts, chord: body }, ctx);
  deepestParent(bodyNode).parent = headerNode;
  return bodyNode;
}

/** The id of the task whose result is `s`'s (a chain's last step, a chord's body, a group's id). */
export function resultIdOf(s: SignatureDict): string | undefined {
  switch (s.subtask_type) {
    case 'chain': {
      const ts = tasksOf(s);
      return ts.length ? resultIdOf(ts[ts.length - 1]!) : undefined;
    }
    case 'chord':
      return resultIdOf(s.kwargs.body as SignatureDict);
    default:
      return typeof s.options.task_id === 'string' ? s.options.task_id : undefined;
  }
}

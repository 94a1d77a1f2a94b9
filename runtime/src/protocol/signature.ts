/**
 * Celery's Signature as it travels in a message (celery/canvas.py): a dict
 * `{task, args, kwargs, options, subtask_type, immutable, chord_size}`. A chain is
 * `task: 'celery.chain'` with `kwargs.tasks`, a group `celery.group` with `kwargs.tasks`, a chord
 * `celery.chord` with `kwargs.header` (a group or a list) and `kwargs.body`.
 *
 * Parsed and checked here, once, when a message is parsed: a malformed signature in an embed is
 * a bad message (dead-lettered with the reason), never an exception later, after the task ran.
 */
import { ProtocolError } from '../errors.js';

export type SubtaskType = 'chain' | 'group' | 'chord' | null;

/** A signature in Celery's dict layout (what `json.dumps(sig)` writes). */
export interface SignatureDict {
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** apply_async options in Celery's names: task_id, queue, countdown, link, link_error, group_id, chord, ... */
  options: Record<string, unknown>;
  subtask_type: SubtaskType;
  immutable: boolean;
  chord_size?: number | null;
}

/** The canvas part of a protocol-v2 body (its third element). */
export interface Embed {
  callbacks: SignatureDict[] | null;
  errbacks: SignatureDict[] | null;
  /** The steps still to run, last first (the worker pops the next one off the end). */
  chain: SignatureDict[] | null;
  /** This task is a part of a chord: its body. */
  chord: SignatureDict | null;
}

/** Deepest nesting of signatures we follow (a chord in a chain in a group ...). */
const MAX_NESTING = 64;

function fail(where: string, want: string): never {
  throw new ProtocolError(`invalid signature at ${where}: ${want}`, { code: 'E_BAD_SIGNATURE' });
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Check and normalize one signature dict (and the signatures nested in it). */
export function parseSignature(v: unknown, where = 'signature', depth = 0): SignatureDict {
  if (depth > MAX_NESTING) fail(where, `signatures nested deeper than ${MAX_NESTING} levels`);
  if (!isObject(v)) fail(where, 'expected an object {task, args, kwargs, options, subtask_type, immutable}');
  const task = v.task;
  if (typeof task !== 'string' || !task) fail(`${where}.task`, 'expected a task name (a non-empty string)');
  const args = v.args ?? [];
  if (!Array.isArray(args)) fail(`${where}.args`, 'expected a list');
  const kwargs = v.kwargs ?? {};
  if (!isObject(kwargs)) fail(`${where}.kwargs`, 'expected an object');
  const options = v.options ?? {};
  if (!isObject(options)) fail(`${where}.options`, 'expected an object');
  const st = v.subtask_type ?? null;
  if (st !== null && st !== 'chain' && st !== 'group' && st !== 'chord') fail(`${where}.subtask_type`, `expected null, "chain", "group" or "chord", got ${JSON.stringify(st)}`);
  const immutable = v.immutable ?? false;
  if (typeof immutable !== 'boolean') fail(`${where}.immutable`, 'expected true or false');
  const sig: SignatureDict = { task, args, kwargs, options, subtask_type: st, immutable };
  if (v.chord_size !== undefined) {
    if (v.chord_size !== null && (typeof v.chord_size !== 'number' || !Number.isSafeInteger(v.chord_size) || v.chord_size < 0)) fail(`${where}.chord_size`, 'expected an integer >= 0 or null');
    sig.chord_size = v.chord_size;
  }
  checkOptions(options, `${where}.options`, depth);
  if (st === 'chain' || st === 'group') {
    const tasks = kwargs.tasks;
    if (!Array.isArray(tasks)) fail(`${where}.kwargs.tasks`, `a ${st} needs a list of signatures`);
    kwargs.tasks = tasks.map((t, i) => parseSignature(t, `${where}.kwargs.tasks[${i}]`, depth + 1));
  } else if (st === 'chord') {
    const header = kwargs.header;
    if (Array.isArray(header)) kwargs.header = header.map((t, i) => parseSignature(t, `${where}.kwargs.header[${i}]`, depth + 1));
    else kwargs.header = parseSignature(header, `${where}.kwargs.header`, depth + 1);
    kwargs.body = parseSignature(kwargs.body, `${where}.kwargs.body`, depth + 1);
    if (kwargs.kwargs !== undefined && !isObject(kwargs.kwargs)) fail(`${where}.kwargs.kwargs`, 'expected an object');
  }
  return sig;
}

/** The options a worker acts on, checked: ids are strings, links are signatures, times are numbers. */
function checkOptions(o: Record<string, unknown>, where: string, depth: number): void {
  for (const k of ['task_id', 'group_id', 'root_id', 'parent_id', 'queue', 'reply_to', 'routing_key', 'exchange', 'shadow'] as const) {
    if (o[k] !== undefined && o[k] !== null && typeof o[k] !== 'string') fail(`${where}.${k}`, 'expected a string or null');
  }
  for (const k of ['countdown', 'priority', 'group_index', 'time_limit', 'soft_time_limit', 'retries'] as const) {
    if (o[k] !== undefined && o[k] !== null && (typeof o[k] !== 'number' || !Number.isFinite(o[k]))) fail(`${where}.${k}`, 'expected a number or null');
  }
  for (const k of ['expires', 'eta'] as const) {
    const x = o[k];
    if (x !== undefined && x !== null && typeof x !== 'string' && (typeof x !== 'number' || !Number.isFinite(x))) fail(`${where}.${k}`, 'expected a number of seconds or an ISO 8601 date');
  }
  if (o.headers !== undefined && o.headers !== null && !isObject(o.headers)) fail(`${where}.headers`, 'expected an object');
  for (const k of ['link', 'link_error'] as const) {
    const x = o[k];
    if (x === undefined || x === null) continue;
    o[k] = (Array.isArray(x) ? x : [x]).map((s, i) => parseSignature(s, `${where}.${k}[${i}]`, depth + 1));
  }
  if (o.chord !== undefined && o.chord !== null) o.chord = parseSignature(o.chord, `${where}.chord`, depth + 1);
  if (o.chain !== undefined && o.chain !== null) {
    if (!Array.isArray(o.chain)) fail(`${where}.chain`, 'expected a list of signatures');
    o.chain = o.chain.map((s, i) => parseSignature(s, `${where}.chain[${i}]`, depth + 1));
  }
}

function sigList(v: unknown, where: string): SignatureDict[] | null {
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v)) fail(where, 'expected a list of signatures or null');
  return v.map((s, i) => parseSignature(s, `${where}[${i}]`));
}

/** Most tasks' embed (no canvas): one frozen object for all (an embed is only read, canvas.ts). */
const EMPTY_EMBED: Embed = Object.freeze({ callbacks: null, errbacks: null, chain: null, chord: null });

/** Check a v2 body's embed (`{callbacks, errbacks, chain, chord}`); absent fields are null. */
export function parseEmbed(v: unknown): Embed {
  if (v === null || v === undefined) return EMPTY_EMBED;
  if (!isObject(v)) throw new ProtocolError('not a protocol v2 body: embed is not an object', { code: 'E_BAD_SIGNATURE' });
  if (v.callbacks == null && v.errbacks == null && v.chain == null && v.chord == null) return EMPTY_EMBED;
  return {
    callbacks: sigList(v.callbacks, 'embed.callbacks'),
    errbacks: sigList(v.errbacks, 'embed.errbacks'),
    chain: sigList(v.chain, 'embed.chain'),
    chord: v.chord === null || v.chord === undefined ? null : parseSignature(v.chord, 'embed.chord'),
  };
}

/** An embed with nothing to do after the task (the common case: no canvas). */
export function isEmptyEmbed(e: Partial<Embed>): boolean {
  return !e.callbacks?.length && !e.errbacks?.length && !e.chain?.length && !e.chord;
}

/**
 * How many completions a signature contributes to a chord it is the header of (Celery's
 * `_chord._descend`): a task 1, a group the sum of its tasks, a chain its last non-empty step,
 * a chord its body.
 */
export function descendSize(s: SignatureDict): number {
  switch (s.subtask_type) {
    case 'group':
      return (s.kwargs.tasks as SignatureDict[]).reduce((n, t) => n + descendSize(t), 0);
    case 'chain': {
      const tasks = s.kwargs.tasks as SignatureDict[];
      for (let i = tasks.length - 1; i >= 0; i--) {
        const n = descendSize(tasks[i]!);
        if (n > 0) return n;
      }
      return 0;
    }
    case 'chord':
      return descendSize(s.kwargs.body as SignatureDict);
    default:
      return 1;
  }
}

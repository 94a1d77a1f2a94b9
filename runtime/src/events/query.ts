/**
 * Flower-style task search: `name:charge state:FAILURE,RETRY worker:w1 args:"card" result:ok free
 * text`. Parsed once (parseTaskQuery), matched per task (matchesQuery). A query is typed by a person
 * into a box: any text parses to either a query or a message that says what is wrong and what would
 * be right, never a throw. Pure TypeScript, no Node API: the webview, the extension and the CLI
 * (`sprig events --filter`) share it.
 *
 * Grammar: terms separated by spaces. A term is `field:value`, `-field:value` (not), or free text.
 * A value is a bare word or a "quoted string" (\" and \\ escape). `state:` takes a comma list (any
 * of them). Every other field matches a case-insensitive substring; terms are AND-ed.
 */
import { TASK_STATES, type TaskInfo, type TaskStateName } from './state.js';

/** The fields a query may name, and the task fields each one searches. */
export const QUERY_FIELDS = ['name', 'state', 'worker', 'args', 'kwargs', 'result', 'exception', 'id', 'queue', 'parent', 'root'] as const;
export type QueryField = (typeof QUERY_FIELDS)[number];

/** A query longer than this is refused (a box, not a file). */
export const QUERY_MAX_LENGTH = 2000;
const TERMS_MAX = 32;

export interface QueryTerm {
  /** null: free text (name, id, args, kwargs, result or exception contain it). */
  field: Exclude<QueryField, 'state'> | null;
  /** Lower-cased. */
  value: string;
  negate: boolean;
}

export interface TaskQuery {
  /** Empty: every state. */
  states: ReadonlySet<TaskStateName>;
  /** States the task must not be in (`-state:SUCCESS`). */
  notStates: ReadonlySet<TaskStateName>;
  terms: readonly QueryTerm[];
  /** The text it was parsed from, trimmed. */
  text: string;
}

export type QueryParse = { ok: true; query: TaskQuery } | { ok: false; error: string; /** 0-based offset of the problem in the text. */ at: number };

export const EMPTY_QUERY: TaskQuery = { states: new Set(), notStates: new Set(), terms: [], text: '' };

const ALIASES: Readonly<Record<string, QueryField>> = { uuid: 'id', task: 'name', hostname: 'worker', host: 'worker', exc: 'exception', status: 'state', parent_id: 'parent', root_id: 'root' };

/** True when nothing is asked for (every task matches). */
export function isEmptyQuery(q: TaskQuery): boolean {
  return q.states.size === 0 && q.notStates.size === 0 && q.terms.length === 0;
}

export function parseTaskQuery(input: unknown): QueryParse {
  if (typeof input !== 'string') return { ok: false, error: 'the query must be text', at: 0 };
  if (input.length > QUERY_MAX_LENGTH) return { ok: false, error: `the query is ${input.length} characters long; at most ${QUERY_MAX_LENGTH} are allowed`, at: QUERY_MAX_LENGTH };
  const text = input;
  const states = new Set<TaskStateName>();
  const notStates = new Set<TaskStateName>();
  const terms: QueryTerm[] = [];
  let i = 0;
  const n = text.length;
  const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  while (i < n) {
    while (i < n && isSpace(text[i]!)) i++;
    if (i >= n) break;
    const start = i;
    let negate = false;
    if (text[i] === '-' && i + 1 < n && !isSpace(text[i + 1]!)) {
      negate = true;
      i++;
    }
    // A field name: letters and underscores up to a colon.
    let field: QueryField | null = null;
    const m = /^([A-Za-z_]+):/.exec(text.slice(i, i + 32));
    if (m) {
      const raw = m[1]!.toLowerCase();
      const known = (QUERY_FIELDS as readonly string[]).includes(raw) ? (raw as QueryField) : ALIASES[raw];
      if (!known) return { ok: false, error: `unknown field "${m[1]}:" — use one of ${QUERY_FIELDS.map((f) => `${f}:`).join(' ')} (or quote the text: "${m[1]}:...")`, at: i };
      field = known;
      i += m[0].length;
    }
    const v = readValue(text, i);
    if (!v.ok) return { ok: false, error: v.error, at: v.at };
    i = v.end;
    if (field !== null && v.value === '') return { ok: false, error: `"${field}:" needs a value, e.g. ${example(field)}`, at: start };
    if (terms.length + (field === 'state' ? 0 : 1) > TERMS_MAX) return { ok: false, error: `at most ${TERMS_MAX} terms in one query`, at: start };
    if (field === 'state') {
      for (const s of v.value.split(',')) {
        const name = s.trim().toUpperCase();
        if (!name) continue;
        const state = TASK_STATES.find((x) => x === name);
        if (!state) return { ok: false, error: `unknown state "${s.trim()}" — use ${TASK_STATES.join(', ')} (several with commas: state:FAILURE,RETRY)`, at: start };
        (negate ? notStates : states).add(state);
      }
      continue;
    }
    if (v.value === '') continue; // "" or a lone -
    terms.push({ field, value: v.value.toLowerCase(), negate });
  }
  return { ok: true, query: { states, notStates, terms, text: text.trim() } };
}

function example(f: QueryField): string {
  switch (f) {
    case 'state':
      return 'state:FAILURE,RETRY';
    case 'args':
      return 'args:"card"';
    case 'worker':
      return 'worker:w1';
    default:
      return `${f}:abc`;
  }
}

type Read = { ok: true; value: string; end: number } | { ok: false; error: string; at: number };

function readValue(text: string, i: number): Read {
  const n = text.length;
  if (text[i] === '"') {
    let out = '';
    let j = i + 1;
    while (j < n) {
      const c = text[j]!;
      if (c === '\\' && j + 1 < n) {
        out += text[j + 1];
        j += 2;
        continue;
      }
      if (c === '"') return { ok: true, value: out, end: j + 1 };
      out += c;
      j++;
    }
    return { ok: false, error: `the quote opened at character ${i + 1} is not closed: add a " at the end`, at: i };
  }
  let j = i;
  while (j < n && text[j] !== ' ' && text[j] !== '\t' && text[j] !== '\n' && text[j] !== '\r') j++;
  const value = text.slice(i, j);
  const q = value.indexOf('"');
  if (q >= 0) return { ok: false, error: `a quote inside a word at character ${i + q + 1}: quote the whole value, e.g. args:"a b"`, at: i + q };
  return { ok: true, value, end: j };
}

function fieldText(t: TaskInfo, f: Exclude<QueryField, 'state'>): string | null {
  switch (f) {
    case 'name':
      return t.name;
    case 'worker':
      return t.worker;
    case 'args':
      return t.args;
    case 'kwargs':
      return t.kwargs;
    case 'result':
      return t.state === 'SUCCESS' ? t.result : null;
    case 'exception':
      return t.exception;
    case 'id':
      return t.uuid;
    case 'queue':
      return t.routingKey ?? t.queue;
    case 'parent':
      return t.parentId;
    case 'root':
      return t.rootId;
  }
}

const FREE_FIELDS = ['name', 'id', 'args', 'kwargs', 'result', 'exception'] as const;

/**
 * Args, kwargs and results are Python reprs (`'O\'Brien'`): a value is found as the user typed it
 * too, with the repr's backslash escapes read as the characters they stand for.
 */
function contains(s: string | null, lower: string): boolean {
  if (s === null) return false;
  const l = s.toLowerCase();
  return l.includes(lower) || (l.includes('\\') && l.replace(/\\(.)/g, '$1').includes(lower));
}

export function matchesQuery(t: TaskInfo, q: TaskQuery): boolean {
  if (q.states.size > 0 && !q.states.has(t.state)) return false;
  if (q.notStates.size > 0 && q.notStates.has(t.state)) return false;
  for (const term of q.terms) {
    const hit = term.field === null ? FREE_FIELDS.some((f) => contains(fieldText(t, f), term.value)) : contains(fieldText(t, term.field), term.value);
    if (hit === term.negate) return false;
  }
  return true;
}

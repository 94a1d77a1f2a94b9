/**
 * Arguments and results as a TypeScript user reads them: JSON. Events carry Python reprs
 * (`(2, 'x', None)`, `{'y': True}`); a repr that reads back exactly (extension/src/tasks/pyliteral.ts,
 * pure, no Node API) is shown as JSON (`[2, "x", null]`, `{"y": true}`). A repr that does not (an
 * object's `<... at 0x...>`, a value cut short with `...`, an integer past 2**53) is all there is:
 * it is shown as it came, marked as a repr. Pure, cached (rows are refilled on every frame).
 */
import { inexactForJson, parsePyLiteral } from '../../extension/src/tasks/pyliteral.js';

export interface ShownValue {
  text: string;
  /** False: the text is the Python repr (it could not be read back as JSON exactly). */
  json: boolean;
}

const cache = new Map<string, ShownValue>();
const CACHE_MAX = 5000;

/** `kind` 'args': a tuple shown as a JSON array; 'kwargs': a dict as an object; 'value': anything. */
export function shownValue(repr: string, kind: 'args' | 'kwargs' | 'value' = 'value'): ShownValue {
  const key = `${kind}\u0000${repr}`;
  let v = cache.get(key);
  if (!v) {
    v = toJson(repr, kind);
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(key, v);
  }
  return v;
}

function toJson(repr: string, kind: 'args' | 'kwargs' | 'value'): ShownValue {
  let value: unknown;
  try {
    value = parsePyLiteral(repr);
  } catch {
    return { text: repr, json: false };
  }
  if (kind === 'args' && !Array.isArray(value)) return { text: repr, json: false };
  if (kind === 'kwargs' && (!value || typeof value !== 'object' || Array.isArray(value))) return { text: repr, json: false };
  if (inexactForJson(value) !== undefined) return { text: repr, json: false };
  return { text: compactJson(value), json: true };
}

/** JSON with a space after `,` and `:` (as people write it), on one line. */
export function compactJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(compactJson).join(', ')}]`;
  if (v && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${compactJson(x)}`).join(', ')}}`;
  return JSON.stringify(v) ?? 'null';
}

/**
 * JSON as Python's `json` module writes it (kombu's), read exactly: an integer literal a double
 * cannot hold (past 2**53) becomes a BigInt, and a BigInt is written back as its digits, so
 * `2**63 - 1` or `9007199254740993` sent by Python comes back the same; `NaN` and `Infinity`,
 * which json.dumps writes for floats, are read as numbers instead of refused. `JSON.parse` /
 * `JSON.stringify` do the work; the exact paths only run for text with a run of 16 or more
 * digits or that JSON.parse refuses, or a value that holds a BigInt. (Node 20 has neither
 * `JSON.rawJSON` nor the reviver's source text.)
 */
import { randomBytes } from 'node:crypto';

/** Marks a big integer inside a JSON string while the text goes through JSON.parse/stringify. */
const MARK = `\u0000bigint-${randomBytes(6).toString('hex')}:`;
/** The mark as it is written inside JSON text (the NUL escaped). */
const MARK_TEXT = MARK.replace('\u0000', '\\u0000');
const MARKED = new RegExp(`"${MARK_TEXT.replace('\\', '\\\\')}(-?\\d+)"`, 'g');
/** A whole string token, or a whole number token (so digits inside strings or fractions are left alone). */
const TOKENS = /"(?:[^"\\]|\\.)*"|-?(?:Infinity|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|NaN/g;
const LONG_DIGITS = /\d{16}/;
const NON_FINITE: Record<string, number> = { NaN, Infinity, '-Infinity': -Infinity };

function revive(_key: string, v: unknown): unknown {
  if (typeof v !== 'string' || !v.startsWith(MARK)) return v;
  const tok = v.slice(MARK.length);
  if (tok in NON_FINITE) return NON_FINITE[tok];
  const n = Number(tok);
  return Number.isSafeInteger(n) ? n : BigInt(tok);
}

/** Marks the tokens JSON.parse would get wrong (long integers) or refuse (NaN, Infinity). */
function exactParse(text: string): unknown {
  let marked = false;
  const t = text.replace(TOKENS, (tok) => {
    if (tok.charCodeAt(0) === 34 /* " */) return tok;
    if (!(tok in NON_FINITE) && (tok.length < 16 || !/^-?\d+$/.test(tok))) return tok;
    marked = true;
    return `"${MARK_TEXT}${tok}"`;
  });
  return marked ? JSON.parse(t, revive) : JSON.parse(text);
}

/**
 * Whether JSON.parse gave a number past 2**53 somewhere in `v` (it may be a rounded integer: then
 * the text is read again exactly). Walking the parsed value is cheaper than scanning the text for
 * a run of 16 digits first (a task envelope's uuids, base64 and numbers: 4% of a no-op task), and
 * exactParse() gives the same value as JSON.parse whenever there is none.
 */
function hasHugeNumber(v: unknown): boolean {
  if (typeof v === 'number') return v > Number.MAX_SAFE_INTEGER || v < -Number.MAX_SAFE_INTEGER;
  if (v === null || typeof v !== 'object') return false;
  const stack: object[] = [v];
  while (stack.length) {
    const o = stack.pop() as Record<string, unknown> | unknown[];
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) {
        const x = o[i];
        if (typeof x === 'number') {
          if (x > Number.MAX_SAFE_INTEGER || x < -Number.MAX_SAFE_INTEGER) return true;
        } else if (x !== null && typeof x === 'object') stack.push(x);
      }
    } else {
      for (const k in o) {
        const x = o[k];
        if (typeof x === 'number') {
          if (x > Number.MAX_SAFE_INTEGER || x < -Number.MAX_SAFE_INTEGER) return true;
        } else if (x !== null && typeof x === 'object') stack.push(x);
      }
    }
  }
  return false;
}

/** JSON.parse, except that integers past 2**53 come back as exact BigInts, and NaN/Infinity are read. */
export function parseJson(text: string): unknown {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    if (!/NaN|Infinity/.test(text)) throw err;
    return exactParse(text);
  }
  return hasHugeNumber(v) && LONG_DIGITS.test(text) ? exactParse(text) : v;
}

function markBigInt(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `${MARK}${v}` : v;
}

/** JSON.stringify, except that a BigInt is written as its digits (not refused). */
export function stringifyJson(value: unknown, space?: number): string {
  try {
    return JSON.stringify(value, null, space);
  } catch (err) {
    if (!(err instanceof TypeError) || !/BigInt/i.test(err.message)) throw err;
    return JSON.stringify(value, markBigInt, space).replace(MARKED, '$1');
  }
}

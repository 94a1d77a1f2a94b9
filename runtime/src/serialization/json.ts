/**
 * JSON with Python's integers: an integer literal a double cannot hold exactly (past 2**53)
 * becomes a BigInt, and a BigInt is written back as its digits, so `2**63 - 1` or
 * `9007199254740993` sent by Python comes back the same. `JSON.parse` / `JSON.stringify` do the
 * work; the exact paths only run for text with a run of 16 or more digits, or a value that holds
 * a BigInt. (Node 20 has neither `JSON.rawJSON` nor the reviver's source text.)
 */
import { randomBytes } from 'node:crypto';

/** Marks a big integer inside a JSON string while the text goes through JSON.parse/stringify. */
const MARK = `\u0000bigint-${randomBytes(6).toString('hex')}:`;
/** The mark as it is written inside JSON text (the NUL escaped). */
const MARK_TEXT = MARK.replace('\u0000', '\\u0000');
const MARKED = new RegExp(`"${MARK_TEXT.replace('\\', '\\\\')}(-?\\d+)"`, 'g');
/** A whole string token, or a whole number token (so digits inside strings or fractions are left alone). */
const TOKENS = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
const LONG_DIGITS = /\d{16}/;

function revive(_key: string, v: unknown): unknown {
  if (typeof v !== 'string' || !v.startsWith(MARK)) return v;
  const digits = v.slice(MARK.length);
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : BigInt(digits);
}

/** JSON.parse, except that integers past 2**53 come back as exact BigInts. */
export function parseJson(text: string): unknown {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  let marked = false;
  const t = text.replace(TOKENS, (tok) => {
    if (tok.charCodeAt(0) === 34 /* " */ || tok.length < 16 || !/^-?\d+$/.test(tok)) return tok;
    marked = true;
    return `"${MARK_TEXT}${tok}"`;
  });
  return marked ? JSON.parse(t, revive) : JSON.parse(text);
}

function markBigInt(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `${MARK}${v}` : v;
}

/** JSON.stringify, except that a BigInt is written as its digits (not refused). */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof TypeError) || !/BigInt/i.test(err.message)) throw err;
    return JSON.stringify(value, markBigInt).replace(MARKED, '$1');
  }
}

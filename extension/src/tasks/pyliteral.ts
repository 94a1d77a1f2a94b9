/**
 * Reads the Python-style reprs events carry (`argsrepr` `(2, 'x', None)`, `kwargsrepr`
 * `{'y': [1, True]}`) back into JSON values, like `ast.literal_eval` for the subset Sprig and
 * Celery write. Used by Retry for tasks this window did not enqueue itself.
 */
export class LiteralError extends Error {}

/** Python's one-letter string escapes; any other backslash stays as written (as Python keeps it). */
const SIMPLE_ESCAPES: Record<string, string> = {
  n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0', '\\': '\\', "'": "'", '"': '"',
};

export function parsePyLiteral(src: string): unknown {
  let i = 0;
  const s = src.trim();
  if (s.endsWith('...')) throw new LiteralError('the arguments were truncated in the event (longer than the repr limit)');
  const ws = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  const expect = (c: string) => {
    ws();
    if (s[i] !== c) throw new LiteralError(`expected ${c} at ${i} in ${s.slice(0, 60)}`);
    i++;
  };
  const seq = (close: string): unknown[] => {
    const out: unknown[] = [];
    ws();
    if (s[i] === close) {
      i++;
      return out;
    }
    for (;;) {
      out.push(value());
      ws();
      if (s[i] === ',') {
        i++;
        ws();
        if (s[i] === close) {
          i++;
          return out;
        }
        continue;
      }
      expect(close);
      return out;
    }
  };
  const str = (): string => {
    const q = s[i++]!;
    let out = '';
    while (i < s.length && s[i] !== q) {
      if (s[i] === '\\') {
        const n = s[++i];
        i++;
        const hex = n === 'x' ? 2 : n === 'u' ? 4 : n === 'U' ? 8 : 0;
        if (hex) {
          const digits = s.slice(i, i + hex);
          if (!new RegExp(`^[0-9a-fA-F]{${hex}}$`).test(digits)) throw new LiteralError(`bad \\${n} escape at ${i}`);
          out += String.fromCodePoint(parseInt(digits, 16));
          i += hex;
        } else out += SIMPLE_ESCAPES[n ?? ''] ?? `\\${n ?? ''}`;
      } else out += s[i++];
    }
    if (s[i] !== q) throw new LiteralError('unterminated string');
    i++;
    return out;
  };
  function value(): unknown {
    ws();
    const c = s[i];
    if (c === '(') {
      i++;
      return seq(')');
    }
    if (c === '[') {
      i++;
      return seq(']');
    }
    if (c === '{') {
      i++;
      const o: Record<string, unknown> = {};
      ws();
      if (s[i] === '}') {
        i++;
        return o;
      }
      for (;;) {
        const k = value();
        expect(':');
        o[String(k)] = value();
        ws();
        if (s[i] === ',') {
          i++;
          ws();
          if (s[i] === '}') {
            i++;
            return o;
          }
          continue;
        }
        expect('}');
        return o;
      }
    }
    if (c === "'" || c === '"') return str();
    const m = /^(None|True|False|null|true|false|-?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)|-?inf|nan)/.exec(s.slice(i));
    if (!m) throw new LiteralError(`cannot read ${JSON.stringify(s.slice(i, i + 20))}`);
    i += m[0].length;
    switch (m[0]) {
      case 'None':
      case 'null':
        return null;
      case 'True':
      case 'true':
        return true;
      case 'False':
      case 'false':
        return false;
      case 'inf':
        return Infinity;
      case '-inf':
        return -Infinity;
      case 'nan':
        return NaN;
      default:
        return Number(m[0]);
    }
  }
  const v = value();
  ws();
  if (i !== s.length) throw new LiteralError(`unexpected ${JSON.stringify(s.slice(i, i + 20))}`);
  return v;
}

/** The first value JSON cannot carry exactly (inf, nan, an integer past 2**53), as a path; else undefined. */
export function inexactForJson(v: unknown, at = 'args'): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && (!Number.isInteger(v) || Number.isSafeInteger(v)) ? undefined : `${at} = ${v}`;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const bad = inexactForJson(v[i], `${at}[${i}]`);
      if (bad) return bad;
    }
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const bad = inexactForJson(x, `${at}.${k}`);
      if (bad) return bad;
    }
  }
  return undefined;
}

export function parseArgsRepr(repr: string | null): unknown[] {
  if (!repr) return [];
  const v = parsePyLiteral(repr);
  if (!Array.isArray(v)) throw new LiteralError('args are not a tuple/list');
  return v;
}

export function parseKwargsRepr(repr: string | null): Record<string, unknown> {
  if (!repr) return {};
  const v = parsePyLiteral(repr);
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new LiteralError('kwargs are not a dict');
  return v as Record<string, unknown>;
}

/**
 * Reads the Python-style reprs events carry (`argsrepr` `(2, 'x', None)`, `kwargsrepr`
 * `{'y': [1, True]}`) back into JSON values, like `ast.literal_eval` for the subset Sprig and
 * Celery write. Used by Retry for tasks this window did not enqueue itself.
 */
export class LiteralError extends Error {}

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
        if (n === 'n') out += '\n';
        else if (n === 't') out += '\t';
        else if (n === 'r') out += '\r';
        else if (n === 'x') {
          out += String.fromCharCode(parseInt(s.slice(i, i + 2), 16));
          i += 2;
        } else if (n === 'u') {
          out += String.fromCharCode(parseInt(s.slice(i, i + 4), 16));
          i += 4;
        } else out += n ?? '';
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
      default:
        return Number(m[0]);
    }
  }
  const v = value();
  ws();
  if (i !== s.length) throw new LiteralError(`unexpected ${JSON.stringify(s.slice(i, i + 20))}`);
  return v;
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

/**
 * JSON exactly as Python's `json.dumps` writes it (kombu's default): `", "` and `": "` separators,
 * non-ASCII escaped as `\uXXXX`. Celery's result values are stored this way; matching it keeps
 * `redis-cli GET` output identical between Python and Sprig workers.
 */
export function pyJson(value: unknown): string {
  const out = encode(value);
  return out === undefined ? 'null' : out;
}

function str(s: string): string {
  return JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function encode(v: unknown): string | undefined {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return str(v);
    case 'number':
      if (Number.isNaN(v)) return 'NaN';
      if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      break;
  }
  const o = v as { toJSON?: () => unknown };
  if (typeof o.toJSON === 'function') return encode(o.toJSON());
  if (Array.isArray(v)) return `[${v.map((x) => encode(x) ?? 'null').join(', ')}]`;
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const e = encode(x);
    if (e !== undefined) parts.push(`${str(k)}: ${e}`);
  }
  return `{${parts.join(', ')}}`;
}

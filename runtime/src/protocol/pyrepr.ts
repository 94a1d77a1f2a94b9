/** A short Python-style repr, like Celery's `argsrepr`/`kwargsrepr` (saferepr), so Python tools show ours alike. */
export function pyrepr(value: unknown, maxLen = 1024): string {
  const s = repr(value, 0);
  return s.length > maxLen ? `${s.slice(0, maxLen - 3)}...` : s;
}

function str(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

function repr(v: unknown, depth: number): string {
  if (depth > 8) return '...';
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return str(v);
  if (Array.isArray(v)) return `[${v.map((x) => repr(x, depth + 1)).join(', ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${str(k)}: ${repr(x, depth + 1)}`);
    return `{${entries.join(', ')}}`;
  }
  return str(String(v));
}

/** Positional args as a Python tuple: `(2, 3)`, `(2,)`, `()`. */
export function pyreprArgs(args: readonly unknown[], maxLen = 1024): string {
  const inner = args.map((a) => repr(a, 1)).join(', ');
  const s = args.length === 1 ? `(${inner},)` : `(${inner})`;
  return s.length > maxLen ? `${s.slice(0, maxLen - 3)}...` : s;
}

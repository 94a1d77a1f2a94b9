/**
 * "Edit and run": a run's arguments as one JSON object, `{"args": [...], "kwargs": {...}}`, shown in
 * an input box and read back. Pure (no `vscode`): the check the box runs on every keystroke.
 */
export interface EditedCall {
  args: unknown[];
  kwargs: Record<string, unknown>;
}

export function editText(call: EditedCall): string {
  return JSON.stringify({ args: call.args, kwargs: call.kwargs }, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
}

/** The call, or what is wrong with the text and what would be right. */
export function parseEditedCall(text: string): EditedCall | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}. Expected {"args": [...], "kwargs": {...}}`;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'expected an object: {"args": [...], "kwargs": {...}}';
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => k !== 'args' && k !== 'kwargs');
  if (extra.length) return `unexpected key ${JSON.stringify(extra[0])}: only "args" (an array) and "kwargs" (an object)`;
  const args = o.args ?? [];
  const kwargs = o.kwargs ?? {};
  if (!Array.isArray(args)) return '"args" must be an array, e.g. "args": [2, 3]';
  if (!kwargs || typeof kwargs !== 'object' || Array.isArray(kwargs)) return '"kwargs" must be an object, e.g. "kwargs": {"retry": true}';
  const unsafe = firstUnsafeInteger([args, kwargs]);
  if (unsafe !== undefined) return `${unsafe} is past 2**53: JSON numbers lose its last digits; send it as a string`;
  return { args, kwargs: kwargs as Record<string, unknown> };
}

function firstUnsafeInteger(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && !Number.isSafeInteger(v) ? v : undefined;
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) {
      const u = firstUnsafeInteger(x);
      if (u !== undefined) return u;
    }
  }
  return undefined;
}

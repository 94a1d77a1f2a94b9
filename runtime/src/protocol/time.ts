/** Celery writes ISO 8601 with microseconds and an explicit offset: 2026-11-25T00:48:53.646446+00:00 */
export function toCeleryIso(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000+00:00');
}

/** Parses Celery/ISO timestamps (with offset, Z, or naive = UTC like Celery's utc default). */
export function parseIso(value: unknown): Date | null {
  if (value === null || value === undefined || value === '' || value === 'undefined') return null;
  if (value instanceof Date) return value;
  if (typeof value === 'number') return new Date(value * 1000);
  if (typeof value !== 'string') return null;
  let s = value.trim();
  // Trim microseconds to milliseconds; V8 is lenient but be explicit.
  s = s.replace(/(\.\d{3})\d+/, '$1');
  if (!/[zZ]|[+-]\d\d:?\d\d$/.test(s)) s += 'Z';
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : new Date(t);
}

/** Seconds since the epoch as a float, like Python's time.time(). */
export function nowSeconds(): number {
  return Date.now() / 1000;
}

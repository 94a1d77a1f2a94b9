/** Celery writes ISO 8601 with microseconds and an explicit offset: 2026-11-25T00:48:53.646446+00:00 */
export function toCeleryIso(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000+00:00');
}

const ISO_RE = /^[+-]?\d{4,6}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)?(?:[zZ]|[+-]\d\d(?::?\d\d)?)?$/;

/**
 * `date_done` as Celery writes it (`datetime.utcnow().isoformat()`): naive UTC with six fractional
 * digits. Python reads the fraction as microseconds, so three digits would be off by 1000.
 */
export function toCeleryDateDone(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000');
}

/** Parses Celery/ISO timestamps (with offset, Z, or naive = UTC like Celery's utc default). */
export function parseIso(value: unknown): Date | null {
  if (value === null || value === undefined || value === '' || value === 'undefined') return null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value;
  if (typeof value === 'number') {
    const d = new Date(value * 1000);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  if (typeof value !== 'string') return null;
  let s = value.trim();
  // ISO 8601 only (Python's isoformat, with 'T' or a space); Date.parse alone takes "Dec 25" too.
  if (!ISO_RE.test(s)) return null;
  s = s.replace(' ', 'T');
  if (!s.includes('T')) s += 'T00:00:00';
  if (/[+-]\d\d$/.test(s)) s += ':00';
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

import { ConfigError } from '../errors.js';
import { setLongTimeout } from '../util/timers.js';

/** Parse Celery's rate strings: '10/s', '100/m', '1000/h', or a bare number (per second). */
export function parseRate(rate: string | number | null | undefined): number | null {
  if (rate === null || rate === undefined || rate === '' || rate === 0 || rate === '0') return null;
  // A rate that is no positive number (NaN, -5, Infinity) would stall the task's bucket for good.
  if (typeof rate === 'number') {
    if (!Number.isFinite(rate) || rate < 0) throw new ConfigError(`bad rate limit ${rate}: use a number of tasks per second > 0`);
    return rate;
  }
  if (typeof rate !== 'string') throw new ConfigError(`bad rate limit ${String(rate)}: use N/s, N/m or N/h (e.g. '10/s')`);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*([smh]))?\s*$/.exec(rate);
  if (!m) throw new ConfigError(`bad rate limit ${JSON.stringify(rate)}: use N/s, N/m or N/h (e.g. '10/s')`);
  const n = Number(m[1]);
  const per = m[2] === 'm' ? 60 : m[2] === 'h' ? 3600 : 1;
  // '0/s' disables the limit, as '0' does (a rate of 0 would never let one through).
  return n > 0 ? n / per : null;
}

/** Token buckets per task name (Celery's per-worker task rate limits). */
export class RateLimiter {
  private readonly buckets = new Map<string, { rate: number; tokens: number; last: number; timer?: NodeJS.Timeout; wake?: () => void }>();

  set(name: string, rate: string | number | null | undefined): void {
    const r = parseRate(rate);
    const old = this.buckets.get(name);
    if (old?.timer) clearTimeout(old.timer);
    if (r === null) this.buckets.delete(name);
    else this.buckets.set(name, { rate: r, tokens: 1, last: performance.now() });
  }

  get(name: string): number | null {
    return this.buckets.get(name)?.rate ?? null;
  }

  /** Take a token for `name`; when none is left, call `wake` once one is due and return false. */
  take(name: string, wake: () => void): boolean {
    const b = this.buckets.get(name);
    if (!b) return true;
    const now = performance.now();
    // Capacity 1: no bursts above the rate.
    b.tokens = Math.min(1, b.tokens + ((now - b.last) / 1000) * b.rate);
    b.last = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    b.wake = wake;
    if (!b.timer) {
      const wait = ((1 - b.tokens) / b.rate) * 1000;
      b.timer = setLongTimeout(() => {
        b.timer = undefined;
        b.wake?.();
      }, Math.ceil(wait));
    }
    return false;
  }

  clear(): void {
    for (const b of this.buckets.values()) if (b.timer) clearTimeout(b.timer);
    this.buckets.clear();
  }
}

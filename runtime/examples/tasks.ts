// Example tasks: `npx sprig worker --app tasks.ts`, then `npx sprig call add --args '[2, 3]' --wait`.
import { task } from 'sprig-queue';

/** Adds two numbers. */
export const add = task('add', (a: number, b: number) => a + b, { maxRetries: 3 });

export const mul = task('mul', (a: number, b: number) => a * b);

/** Keyword arguments arrive as a last object argument. */
export const greet = task('greet', (name: string, opts?: { greeting?: string }) => `${opts?.greeting ?? 'Hello'}, ${name}!`);

/** Fails `failTimes` times, retrying with a short countdown, then succeeds. */
export const flaky = task(
  'flaky',
  (ctx, failTimes: number) => {
    if (ctx.retries < failTimes) ctx.retry({ countdown: 0.2, exc: new Error(`transient failure #${ctx.retries + 1}`) });
    return `ok after ${ctx.retries} retries`;
  },
  { bind: true, maxRetries: 5 },
);

export class PaymentDeclinedError extends Error {
  override name = 'PaymentDeclinedError';
}

/** Always fails: its traceback points at this file and line. */
export const fail = task('fail', (reason: string) => {
  throw new PaymentDeclinedError(reason);
});

let calls = 0;
/** Automatic retries with exponential backoff for one error type. */
export const fetchQuote = task(
  'fetchQuote',
  async (symbol: string) => {
    calls++;
    if (calls % 3 !== 0) throw new TypeError('upstream timed out');
    return { symbol, price: 42 };
  },
  { autoretryFor: [TypeError], retryBackoff: 0.1, retryBackoffMax: 1, maxRetries: 5 },
);

/** Waits, then returns; stops early when aborted (soft time limit, revoke). */
export const sleep = task(
  'sleep',
  async (ctx, seconds: number) => {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, seconds * 1000);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(ctx.signal.reason);
      });
    });
    return seconds;
  },
  { bind: true },
);

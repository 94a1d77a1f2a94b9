// Tasks the benchmark's Sprig workers run (`npm run bench`; see bench/README.md).
import { task } from 'sprig-queue';

/** The drain task: does nothing, stores no result, acked after it ran (at-least-once). */
export const noop = task('bench.noop', () => undefined, { ignoreResult: true, acksLate: true });

/** The latency task: returns its argument through the result backend. */
export const echo = task('bench.echo', (x: unknown) => x);

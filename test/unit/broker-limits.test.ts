/** Settings checked at once with what would be right: dead-letter limits and the startup retry bound. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deadLetterEntry, deadLetterLimits, DEFAULT_DEAD_LETTER_LIMITS, encodeDeadLetter } from '../../runtime/src/brokers/dead-letter.js';
import { createBroker } from '../../runtime/src/brokers/registry.js';
import { startupRetries } from '../../runtime/src/app/config.js';
import { ConfigError } from '../../runtime/src/errors.js';
import { retryWithBackoff, RetriesExhausted } from '../../runtime/src/util/resilience.js';
import { cliResult, FIXTURE_TASKS } from '../helpers.js';

test('dead-letter limits: defaults, and a value that is not a positive integer is a ConfigError that says what is right', async () => {
  assert.deepEqual(deadLetterLimits(), { maxBytes: 65536, maxLength: 10000 });
  assert.deepEqual(deadLetterLimits({ maxLength: 5 }), { ...DEFAULT_DEAD_LETTER_LIMITS, maxLength: 5 });
  for (const bad of [0, -1, 1.5, '10', Number.NaN]) {
    assert.throws(
      () => deadLetterLimits({ maxBytes: bad as number }),
      (e: Error) => e instanceof ConfigError && /^deadLetter\.maxBytes must be a positive integer \(e\.g\. 65536; default 65536\), got /.test(e.message),
    );
  }
  await assert.rejects(createBroker('memory://limits', { deadLetter: { maxLength: 0 } }), /deadLetter\.maxLength must be a positive integer/);
});

test('a dead-letter entry keeps the head (at a character boundary) and the full size', () => {
  const raw = 'é'.repeat(100); // 200 bytes
  const e = deadLetterEntry({ queue: 'q', raw }, 'bad', { limits: { maxBytes: 51 }, now: 1000 });
  assert.equal(e.size, 200);
  assert.equal(e.truncated, true);
  assert.equal(e.raw, 'é'.repeat(25)); // 50 bytes: the 51st would split a character
  assert.deepEqual(JSON.parse(encodeDeadLetter(e)), { reason: 'bad', queue: 'q', time: 1, size: 200, truncated: true, raw: 'é'.repeat(25) });
  const small = deadLetterEntry({ queue: 'q', raw: Buffer.from('abc') }, undefined);
  assert.deepEqual([small.size, small.truncated, small.reason], [3, false, 'rejected']);
});

test('startup retry settings: Celery defaults, 0 = forever, bad values refused', async () => {
  assert.equal(startupRetries({}), 100);
  assert.equal(startupRetries({ brokerConnectionMaxRetries: 0 }), 0);
  assert.equal(startupRetries({ brokerConnectionRetryOnStartup: false }), undefined);
  assert.throws(() => startupRetries({ brokerConnectionMaxRetries: -2 }), /brokerConnectionMaxRetries must be an integer >= 0 \(0: retry forever\), got -2/);
  assert.throws(() => startupRetries({ brokerConnectionRetryOnStartup: 'yes' as unknown as boolean }), /brokerConnectionRetryOnStartup must be true or false/);
});

test('retryWithBackoff: retries only what is retryable, stops at maxRetries', async () => {
  let calls = 0;
  const delays: number[] = [];
  const err = await retryWithBackoff(
    async () => {
      calls++;
      throw new Error('down');
    },
    { maxRetries: 3, baseMs: 1, maxMs: 4, retryable: () => true, onRetry: (_e, _n, d) => delays.push(d) },
  ).catch((e: unknown) => e);
  assert.ok(err instanceof RetriesExhausted);
  assert.equal(err.attempts, 4);
  assert.equal(calls, 4);
  assert.equal(delays.length, 3);
  assert.ok(delays.every((d, i) => d >= 0 && d < Math.min(4, 2 ** i)), `full jitter under the cap: ${delays}`);
  calls = 0;
  await assert.rejects(
    retryWithBackoff(async () => (calls++, Promise.reject(new Error('wrong password'))), { maxRetries: 0, baseMs: 1, maxMs: 1, retryable: () => false }),
    /wrong password/,
  );
  assert.equal(calls, 1);
});

test('worker flags: --dead-letter-max-bytes / --dead-letter-max-length must be positive integers', async () => {
  for (const flag of ['--dead-letter-max-bytes', '--dead-letter-max-length']) {
    const r = await cliResult(['worker', '--app', FIXTURE_TASKS, '--broker', 'memory://x', flag, '0']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`${flag} expects a positive integer, got "0"`));
  }
});

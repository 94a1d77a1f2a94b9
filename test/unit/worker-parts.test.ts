import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Blueprint, orderSteps, type Step } from '../../runtime/src/worker/blueprint.js';
import { parseRate, RateLimiter } from '../../runtime/src/worker/rate-limit.js';
import { backoffSeconds, matchesError } from '../../runtime/src/app/task.js';
import { PriorityFifo } from '../../runtime/src/brokers/priority-queue.js';
import { BASE_MULTIPLIER, MAX_MULTIPLIER, PrefetchTuner } from '../../runtime/src/worker/prefetch.js';
import { discardReason, discardedOutcome } from '../../runtime/src/worker/hand-off.js';

test('bootsteps start in dependency order and stop in reverse; a failing stop does not stop the rest', async () => {
  const log: string[] = [];
  const step = (name: string, requires: string[] = [], failStop = false): Step<null> => ({
    name,
    requires,
    start: () => void log.push(`start ${name}`),
    stop: () => {
      log.push(`stop ${name}`);
      if (failStop) throw new Error('nope');
    },
  });
  const errors: string[] = [];
  const bp = new Blueprint([step('consumer', ['pool', 'db']), step('db', ['connection'], true), step('pool'), step('connection')], (l, m) => l === 'error' && errors.push(m));
  await bp.start(null);
  await bp.stop(null);
  assert.deepEqual(log, ['start pool', 'start connection', 'start db', 'start consumer', 'stop consumer', 'stop db', 'stop connection', 'stop pool']);
  assert.match(errors[0]!, /bootstep db failed to stop: nope/);
});

test('a bootstep cycle or unknown requirement is a clear error', () => {
  assert.throws(() => orderSteps([{ name: 'a', requires: ['b'] }, { name: 'b', requires: ['a'] }]), /bootstep cycle: a -> b -> a/);
  assert.throws(() => orderSteps([{ name: 'a', requires: ['zzz'] }]), /bootstep "a" requires "zzz", which is not a step/);
  assert.throws(() => orderSteps([{ name: 'a' }, { name: 'a' }]), /defined twice/);
});

test('rate strings', () => {
  assert.equal(parseRate('10/s'), 10);
  assert.equal(parseRate('120/m'), 2);
  assert.equal(parseRate('3600/h'), 1);
  assert.equal(parseRate('5'), 5);
  assert.equal(parseRate(null), null);
  assert.throws(() => parseRate('10/d'), /use N\/s, N\/m or N\/h/);
});

test('token bucket: no burst above the rate, wakes when a token is due', async () => {
  const rl = new RateLimiter();
  rl.set('t', '20/s');
  assert.equal(rl.take('t', () => undefined), true);
  assert.equal(rl.take('t', () => undefined), false);
  let woke = 0;
  rl.take('t', () => woke++);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(woke, 1);
  assert.equal(rl.take('t', () => undefined), true);
  assert.equal(rl.take('other', () => undefined), true, 'no limit for other task types');
  rl.clear();
});

test('exponential backoff with full jitter, capped', () => {
  assert.equal(backoffSeconds({ retryBackoff: 2, retryJitter: false }, 0), 2);
  assert.equal(backoffSeconds({ retryBackoff: 2, retryJitter: false }, 3), 16);
  assert.equal(backoffSeconds({ retryBackoff: true, retryBackoffMax: 5, retryJitter: false }, 10), 5);
  const j = backoffSeconds({ retryBackoff: 1 }, 4, () => 0.5);
  assert.equal(j, 8);
  assert.equal(backoffSeconds({}, 0), 180, 'no backoff: the default retry delay');
});

test('autoretryFor matches classes and names, including subclasses', () => {
  class NetError extends Error {}
  class Timeout extends NetError {}
  assert.ok(matchesError(new Timeout('x'), [NetError]));
  assert.ok(matchesError(new Timeout('x'), ['NetError']));
  assert.ok(!matchesError(new Error('x'), [NetError]));
  assert.ok(matchesError(new TypeError('x'), ['TypeError']));
});

test('priority fifo: lower level first, FIFO within a level, unshift keeps the front', () => {
  const q = new PriorityFifo<string>();
  q.push('a9', 9);
  q.push('b0', 0);
  q.push('c0', 0);
  q.push('d3', 3);
  q.unshift('z0', 0);
  assert.deepEqual([...q.values()], ['z0', 'b0', 'c0', 'd3', 'a9']);
  assert.equal(q.shift(), 'z0');
  assert.equal(q.length, 4);
});

test('adaptive prefetch: grows in powers of two for short tasks, back to the base at once for slow ones', () => {
  const applied: number[] = [];
  const t = new PrefetchTuner((m) => applied.push(m));
  assert.equal(t.current, BASE_MULTIPLIER);
  for (let i = 0; i < 31; i++) t.observe(0.00001);
  assert.deepEqual(applied, [], 'no decision before 32 tasks');
  t.observe(0.00001);
  assert.deepEqual(applied, [MAX_MULTIPLIER], '10 µs tasks: straight to the maximum');
  // 0.4 ms tasks: 16 x 0.4 = 6.4 ms is within twice the budget, so it stays (no flapping)...
  for (let i = 0; i < 200; i++) t.observe(0.0004);
  assert.equal(t.current, MAX_MULTIPLIER);
  // ...1 ms tasks: 16 ms queued per slot is too much; 8 x 1 = 8 ms is not more than twice the budget.
  for (let i = 0; i < 200; i++) t.observe(0.001);
  assert.equal(t.current, 8);
  // One 10 s task is noticed at once, and the window never goes below Celery's 4.
  t.observe(10);
  assert.equal(t.current, BASE_MULTIPLIER);
  assert.deepEqual(applied, [16, 8, 4]);
  for (let i = 0; i < 1000; i++) t.observe(5);
  assert.equal(t.current, BASE_MULTIPLIER);
  assert.deepEqual(applied, [16, 8, 4]);
});

test('adaptive prefetch above 16 (process/thread pools): a lone slow task is a hiccup, two in a row shrink it', () => {
  const applied: number[] = [];
  const t = new PrefetchTuner((m) => applied.push(m), BASE_MULTIPLIER, 256);
  for (let i = 0; i < 32 * 3; i++) t.observe(0.000005);
  assert.equal(t.current, 256, '5 µs tasks: up to this pool\'s ceiling');
  // A child descheduled for 5 ms in the middle of one no-op: the window stays.
  t.observe(0.005);
  for (let i = 0; i < 100; i++) t.observe(0.000005);
  assert.equal(t.current, 256);
  assert.deepEqual(applied, [256]);
  // Tasks that really got slow: the second one in a row brings the window down, to Celery's 4 for 1 s tasks.
  t.observe(1);
  assert.equal(t.current, 256);
  t.observe(1);
  assert.equal(t.current, BASE_MULTIPLIER);
  // Slower tasks at 0.1 ms each: 256 x 0.1 ms is over the budget, so the window shrinks as soon as two run.
  const u = new PrefetchTuner(() => undefined, BASE_MULTIPLIER, 256);
  for (let i = 0; i < 32 * 3; i++) u.observe(0.000005);
  assert.equal(u.current, 256);
  for (let i = 0; i < 200; i++) u.observe(0.0001);
  assert.ok(u.current <= 64, `0.1 ms tasks: ${u.current} a slot`);
});

test('hand-off check: revoked or expired tasks are discarded, expiry first (as Celery reports it)', () => {
  const now = 1_000_000;
  const revoked = new Set(['r']);
  assert.equal(discardReason('a', null, revoked, now), undefined);
  assert.equal(discardReason('a', now + 1, revoked, now), undefined);
  assert.equal(discardReason('a', now, revoked, now), 'expired');
  assert.equal(discardReason('r', null, revoked, now), 'revoked');
  assert.equal(discardReason('r', now - 1, revoked, now), 'expired');
  assert.equal(discardReason('r', undefined, new Set(), now), undefined);
  assert.deepEqual(discardedOutcome('expired'), { state: 'REVOKED', expired: true, runtime: 0 });
  assert.deepEqual(discardedOutcome('revoked'), { state: 'REVOKED', expired: false, runtime: 0 });
});

test('a job crosses the pool channel without its null fields and empty headers, and comes back whole', async () => {
  const { packJob, unpackJob, sendExact, unwrapExact } = await import('../../runtime/src/worker/pool/child-protocol.js');
  const base = { id: 'a', name: 't', args: [1n << 64n], kwargs: { b: Buffer.from('x') }, retries: 2, eta: null, rootId: null, parentId: null, groupId: null, queue: 'q', headers: {}, hostname: 'h@x', timeLimit: null, softTimeLimit: 5, expires: null, binary: true };
  const wire = packJob(base);
  assert.deepEqual(Object.keys(wire).sort(), ['args', 'binary', 'hostname', 'id', 'kwargs', 'name', 'queue', 'retries', 'softTimeLimit']);
  // Through the real wrapping a bytes-carrying job takes: BigInt and bytes survive, nulls come back.
  let sent: unknown;
  sendExact((m) => (sent = JSON.parse(JSON.stringify(m))), { t: 'run', jobs: [wire] }, true);
  const back = unwrapExact(sent as never) as { jobs: Parameters<typeof unpackJob>[0][] };
  const job = unpackJob(back.jobs[0]!);
  assert.deepEqual({ ...job, kwargs: {} }, { ...base, kwargs: {} });
  assert.ok(Buffer.isBuffer(job.kwargs.b) && job.kwargs.b.toString() === 'x');
  // Headers that are set travel as they are.
  assert.deepEqual(unpackJob(packJob({ ...base, headers: { 'x-trace': 't1' } })).headers, { 'x-trace': 't1' });
});

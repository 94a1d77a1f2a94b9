/**
 * The bound on ETA tasks a worker holds (worker.etaTaskLimit, Celery 5.6's worker_eta_task_limit),
 * on real Redis: past the limit, far-ETA messages are parked in the broker's delay set instead of
 * the worker's memory; tasks due now still run behind them; parked ones come back when due and run
 * once each; the worker's memory stays bounded.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import Redis from 'ioredis';
import { App } from '../../runtime/src/index.js';
import { DELAYED_KEY, UNACKED_INDEX_KEY, UNACKED_KEY } from '../../runtime/src/brokers/redis/keys.js';
import { FIXTURE_TASKS, runCli, uniqueQueue, waitFor, type Spawned } from '../helpers.js';

const REDIS = 'redis://127.0.0.1:6379/0';
const redis = new Redis(REDIS);
const cleanups: Array<() => Promise<unknown>> = [];

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  redis.disconnect();
});

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Members of the (shared) delay set that belong to `queue`. */
async function parkedOf(queue: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, items] = await redis.zscan(DELAYED_KEY, cursor, 'MATCH', `*${queue}*`, 'COUNT', 5000);
    cursor = next;
    for (let i = 0; i < items.length; i += 2) out.push(items[i]!);
  } while (cursor !== '0');
  return out;
}

async function stop(w: Spawned): Promise<void> {
  if (w.proc.exitCode !== null) return;
  w.proc.kill('SIGTERM');
  await Promise.race([w.exit, new Promise((r) => setTimeout(r, 15_000))]);
  if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
}

test('past etaTaskLimit, far ETAs wait on Redis: due tasks run, parked ones run once when due, worker memory stays bounded', { timeout: 240_000 }, async () => {
  const q = uniqueQueue();
  const trace = `${q}:trace`;
  const FAR = 20_000;
  const SOON = 200;
  const NOW = 50;
  const LIMIT = 100;
  const app = new App({ brokerUrl: REDIS, resultBackend: REDIS, defaultQueue: q });
  cleanups.push(async () => {
    const members = await parkedOf(q);
    for (let i = 0; i < members.length; i += 1000) await redis.zrem(DELAYED_KEY, ...members.slice(i, i + 1000));
    await redis.del(q, trace, `_kombu.binding.${q}`);
  });
  cleanups.push(() => app.close());

  // The worker first, idle: its baseline memory.
  const w = runCli(['worker', '--app', FIXTURE_TASKS, '--broker', REDIS, '-Q', q, '-P', 'async', '-c', '10', '--eta-task-limit', String(LIMIT), '--loglevel', 'info']);
  cleanups.push(() => stop(w));
  await waitFor(() => w.err().includes('ready:') || w.proc.exitCode !== null, 30_000, 'worker ready');
  assert.equal(w.proc.exitCode, null, w.err());
  await new Promise((r) => setTimeout(r, 1000));
  const idle = rssMB(w.proc.pid!);

  // 20,000 an hour away, then 200 due in ~12 s (past the bound too: parked, then back), then 50 due now.
  const far = Array.from({ length: FAR }, (_, i) => ({ name: 'record', args: [trace, `far-${i}`], options: { queue: q, countdown: 3600, ignoreResult: true } }));
  for (let i = 0; i < FAR; i += 1000) await app.sendMany(far.slice(i, i + 1000));
  const soonAt = Date.now() + 12_000;
  await app.sendMany(Array.from({ length: SOON }, (_, i) => ({ name: 'record', args: [trace, `soon-${i}`], options: { queue: q, eta: new Date(soonAt), ignoreResult: true } })));
  await app.sendMany(Array.from({ length: NOW }, (_, i) => ({ name: 'record', args: [trace, `now-${i}`], options: { queue: q, ignoreResult: true } })));

  // The due ones run behind 20,200 scheduled ones.
  await waitFor(async () => (await redis.lrange(trace, 0, -1)).filter((v) => v.startsWith('now-')).length === NOW, 60_000, 'the due tasks to run');
  // Everything was taken off the queue; what the worker does not hold is parked.
  await waitFor(async () => (await redis.llen(q)) === 0, 60_000, 'the queue to be read to the end');
  const parked = await parkedOf(q);
  assert.ok(parked.length >= FAR - LIMIT, `parked ${parked.length}, expected at least ${FAR - LIMIT}`);
  const scheduled = await app.control.inspect('scheduled', { timeout: 2 });
  const held = scheduled.flatMap((r) => Object.values(r)[0] as unknown[]);
  assert.ok(held.length <= LIMIT + SOON, `the worker holds ${held.length} ETA tasks (limit ${LIMIT})`);
  const loaded = rssMB(w.proc.pid!);

  // The soon ones come back when due and run exactly once each; no far one runs early.
  await waitFor(async () => (await redis.lrange(trace, 0, -1)).filter((v) => v.startsWith('soon-')).length >= SOON, 60_000, 'the parked tasks to come due and run');
  assert.ok(Date.now() >= soonAt - 100, 'a parked task ran before its ETA');
  await new Promise((r) => setTimeout(r, 1500));
  const ran = await redis.lrange(trace, 0, -1);
  assert.equal(ran.length, NOW + SOON, `ran: ${ran.length} (${ran.filter((v) => v.startsWith('far-')).length} far ones)`);
  assert.equal(new Set(ran).size, ran.length, 'a task ran twice');
  const far2 = await parkedOf(q);
  assert.ok(far2.length >= FAR - LIMIT && far2.every((m) => m.includes('far-')), 'the far ones stay parked');
  // Holding 20,000 requests costs this worker well over 100 MB; parked, it holds at most the limit.
  assert.ok(loaded - idle < 60, `worker RSS ${idle.toFixed(0)} MB idle -> ${loaded.toFixed(0)} MB with ${FAR} far ETA tasks`);
  process.stderr.write(`# eta-bound: RSS idle ${idle.toFixed(1)} MB, with ${FAR + SOON} ETA tasks ${loaded.toFixed(1)} MB; parked ${parked.length}, held ${held.length}\n`);
});

test('past etaTaskLimit, a worker killed -9 while its fetches park messages loses none: each is queued, in unacked or parked, once', { timeout: 240_000 }, async () => {
  const q = uniqueQueue();
  const N = 60_000;
  const LIMIT = 100;
  const app = new App({ brokerUrl: REDIS, resultBackend: REDIS, defaultQueue: q });
  const ourUnacked = async (): Promise<Array<[string, string]>> => {
    const out: Array<[string, string]> = [];
    let cursor = '0';
    do {
      const [next, items] = await redis.hscan(UNACKED_KEY, cursor, 'COUNT', 5000);
      cursor = next;
      for (let i = 0; i < items.length; i += 2) if (items[i + 1]!.includes(q)) out.push([items[i]!, items[i + 1]!]);
    } while (cursor !== '0');
    return out;
  };
  cleanups.push(async () => {
    const members = await parkedOf(q);
    for (let i = 0; i < members.length; i += 1000) await redis.zrem(DELAYED_KEY, ...members.slice(i, i + 1000));
    const tags = (await ourUnacked()).map(([t]) => t);
    if (tags.length) await redis.hdel(UNACKED_KEY, ...tags);
    if (tags.length) await redis.zrem(UNACKED_INDEX_KEY, ...tags);
    await redis.del(q, `_kombu.binding.${q}`);
  });
  cleanups.push(() => app.close());
  const calls = Array.from({ length: N }, (_, i) => ({ name: 'record', args: [`${q}:trace`, `far-${i}`], options: { queue: q, countdown: 3600, ignoreResult: true } }));
  for (let i = 0; i < N; i += 1000) await app.sendMany(calls.slice(i, i + 1000));

  const before = await redis.zcard(DELAYED_KEY);
  const w = runCli(['worker', '--app', FIXTURE_TASKS, '--broker', REDIS, '-Q', q, '-P', 'async', '-c', '10', '--eta-task-limit', String(LIMIT), '--loglevel', 'info']);
  cleanups.push(() => stop(w));
  // Killed while it reads: some parked, some still queued.
  let queuedAtKill = 0;
  await waitFor(
    async () => {
      if ((await redis.zcard(DELAYED_KEY)) - before < 2000) return false;
      w.proc.kill('SIGKILL');
      queuedAtKill = await redis.llen(q);
      return true;
    },
    60_000,
    'the worker to park some',
  );
  await w.exit;
  assert.ok(queuedAtKill > 0, 'killed after it had read everything: nothing was in flight');
  const queued = await redis.lrange(q, 0, -1);
  const unacked = (await ourUnacked()).map(([, v]) => JSON.stringify((JSON.parse(v) as unknown[])[0]));
  const parked = (await parkedOf(q)).map((v) => JSON.stringify((JSON.parse(v) as unknown[])[0]));
  const ids = [...queued.map((v) => JSON.parse(v) as { headers: { id: string } }), ...[...unacked, ...parked].map((v) => JSON.parse(v) as { headers: { id: string } })].map((m) => m.headers.id);
  process.stderr.write(`# eta-bound kill -9: ${queued.length} queued, ${unacked.length} in unacked, ${parked.length} parked\n`);
  assert.ok(parked.length >= 2000 && unacked.length <= LIMIT + 2000, `${parked.length} parked, ${unacked.length} unacked`);
  assert.equal(ids.length, N, `${queued.length} queued + ${unacked.length} unacked + ${parked.length} parked`);
  assert.equal(new Set(ids).size, N, 'a message is in two places');
});

test('etaTaskLimit: a bad value is refused with what would be right', async () => {
  const r = runCli(['worker', '--app', FIXTURE_TASKS, '--broker', REDIS, '-Q', uniqueQueue(), '--eta-task-limit', 'lots']);
  const code = await r.exit;
  assert.notEqual(code, 0);
  assert.match(r.err(), /--eta-task-limit expects an integer >= 0, got "lots"/);
});

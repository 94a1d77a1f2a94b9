/**
 * A chord of 1,000 parts on Redis (acks late) with its worker kill -9'ed twice mid-run: parts
 * held by the dead worker come back (visibility timeout) and run again, yet each counts once in
 * the join, and the body runs exactly once with the 1,000 results in header order.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import Redis from 'ioredis';
import { chord, defaultApp, GroupResult } from '../../runtime/src/index.js';
import { ROOT, runCli, uniqueQueue, waitFor, type Spawned } from '../helpers.js';
import { countBody, slowId } from '../fixtures/canvas-kill-tasks.js';
import { chordDoneKey, chordKeys } from '../../runtime/src/brokers/redis/redis-backend.js';

const TASKS = path.join(ROOT, 'test', 'fixtures', 'canvas-kill-tasks.ts');
const REDIS = 'redis://127.0.0.1:6379/0';
// A short visibility timeout brings the dead worker's held parts back within seconds.
const URL = `${REDIS}?visibility_timeout=3`;
const redis = new Redis(REDIS);
const queue = uniqueQueue();
const counter = `${queue}:body-runs`;
const workers: Spawned[] = [];

async function startWorker(): Promise<Spawned> {
  const w = runCli(['worker', '--app', TASKS, '--broker', URL, '-Q', queue, '-P', 'async', '-c', '25', '--acks-late', '-l', 'warn']);
  workers.push(w);
  await waitFor(() => w.err().includes('ready:') || w.proc.exitCode !== null, 30_000, 'worker ready');
  assert.equal(w.proc.exitCode, null, w.err());
  return w;
}

/** Nothing of the join is left but Sprig's done marker, which expires. */
async function assertJoinGone(gid: string): Promise<void> {
  const left = (await Promise.all(chordKeys(gid).map(async (k) => ((await redis.exists(k)) ? k : null)))).filter((k) => k !== null);
  assert.deepEqual(left, [], 'no key of the join is left');
  const ttl = await redis.ttl(chordDoneKey(gid));
  assert.ok(ttl > 0, `the done marker is there and expires (ttl ${ttl})`);
}

async function kill9(w: Spawned): Promise<void> {
  w.proc.kill('SIGKILL');
  await w.exit;
}

after(async () => {
  for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exit));
  await defaultApp().close();
  const held = await redis.hgetall('unacked');
  const ours = Object.entries(held).filter(([, v]) => v.includes(`"${queue}"`)).map(([tag]) => tag);
  if (ours.length) await redis.pipeline().hdel('unacked', ...ours).zrem('unacked_index', ...ours).exec();
  await redis.del(queue, counter);
  redis.disconnect();
});

test('1,000-part chord, worker kill -9 twice mid-run (acks late): the body runs once with 1,000 ordered results', { timeout: 120_000 }, async () => {
  defaultApp().configure({ brokerUrl: REDIS, defaultQueue: queue });
  const N = 1000;
  // Everything is queued first, then the worker starts: the kills land mid-run.
  const res = chord(Array.from({ length: N }, (_, i) => slowId.s(i, 100)), countBody.s(counter)).applyAsync();
  await res.sent;
  const t0 = Date.now();
  let w = await startWorker();
  const gid = (res.parent as GroupResult).id;
  const [, , , partsKey] = chordKeys(gid);
  const counted = async () => redis.scard(partsKey!);
  const kills: number[] = [];
  for (const at of [250, 600]) {
    await waitFor(async () => (await counted()) >= at, 60_000, `${at} parts counted`);
    await kill9(w);
    kills.push(await counted());
    assert.ok(kills[kills.length - 1]! < N, 'killed before every part was counted');
    w = await startWorker();
  }
  const body = (await res.get({ timeout: 90 })) as { runs: number; n: number; ordered: boolean; first: number; last: number };
  assert.deepEqual(body, { runs: 1, n: N, ordered: true, first: 0, last: N - 1 });
  // Redelivered parts that finish after the body ran must not run it again.
  await new Promise((r) => setTimeout(r, 4000));
  assert.equal(await redis.get(counter), '1', 'the body ran exactly once');
  // The join is deleted when the body is sent, and a part redelivered after that (acks late,
  // killed mid-run) writes nothing: only the done marker is left, and it expires.
  await assertJoinGone(gid);
  console.log(`# 1000-part chord: killed at ${kills.join(' and ')} parts counted; done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

test("the Redis join: Celery's keys and entries, a part counted once, a part Celery added counts too", async () => {
  const { RedisBackend } = await import('../../runtime/src/brokers/redis/redis-backend.js');
  const b = new RedisBackend(REDIS, { expires: 60 });
  const gid = `${queue}-join`;
  try {
    await b.chords.setSize(gid, 3);
    assert.equal(await redis.get(`celery-taskset-meta-${gid}.s`), '3');
    assert.equal(await b.chords.partReturn({ groupId: gid, taskId: 'b', groupIndex: 1, state: 'SUCCESS', result: 2 }), null);
    // Redelivered with another result: still one entry, the first.
    assert.equal(await b.chords.partReturn({ groupId: gid, taskId: 'b', groupIndex: 1, state: 'SUCCESS', result: 99 }), null);
    // What a Celery worker writes for its part (backends/redis.py): json [1, tid, state, result] scored by group_index.
    await redis.zadd(`celery-taskset-meta-${gid}.j`, 2, JSON.stringify([1, 'c', 'SUCCESS', 3]).replace(/,/g, ', '));
    const all = await b.chords.partReturn({ groupId: gid, taskId: 'a', groupIndex: 0, state: 'SUCCESS', result: 1 });
    assert.deepEqual(all, [
      { taskId: 'a', state: 'SUCCESS', result: 1 },
      { taskId: 'b', state: 'SUCCESS', result: 2 },
      { taskId: 'c', state: 'SUCCESS', result: 3 },
    ]);
    assert.deepEqual(await redis.zrange(`celery-taskset-meta-${gid}.j`, "0", "0"), ['[1, "a", "SUCCESS", 1]']);
    // Another part redelivered does not fire it again; the completing one does (it died before sending the body).
    assert.equal(await b.chords.partReturn({ groupId: gid, taskId: 'b', groupIndex: 1, state: 'SUCCESS', result: 2 }), null);
    assert.ok(await b.chords.partReturn({ groupId: gid, taskId: 'a', groupIndex: 0, state: 'SUCCESS', result: 1 }));
    await b.chords.done(gid);
    assert.equal(await redis.exists(...chordKeys(gid)), 0);
    // Late parts (the completing one, another, a new id) after the body was sent: not counted, nothing written.
    assert.equal(await b.chords.partReturn({ groupId: gid, taskId: 'a', groupIndex: 0, state: 'SUCCESS', result: 1 }), null);
    assert.equal(await b.chords.partReturn({ groupId: gid, taskId: 'b', groupIndex: 1, state: 'SUCCESS', result: 2 }), null);
    assert.equal(await b.chords.partReturn({ groupId: gid, taskId: 'z', groupIndex: 9, state: 'SUCCESS', result: 9 }), null);
    await assertJoinGone(gid);
    assert.ok((await redis.ttl(chordDoneKey(gid))) <= 60, 'the marker lives as long as a result');
  } finally {
    await redis.del(...chordKeys(gid), chordDoneKey(gid));
    await b.close();
  }
});

test('a chord part replayed after the body was sent (the same message bytes again) counts 0 times and leaves nothing', { timeout: 90_000 }, async () => {
  const q = uniqueQueue();
  const runs = `${q}:body-runs`;
  defaultApp().configure({ brokerUrl: REDIS, defaultQueue: q });
  const res = chord([slowId.s(0, 0), slowId.s(1, 0), slowId.s(2, 0)], countBody.s(runs)).applyAsync();
  await res.sent;
  const gid = (res.parent as GroupResult).id;
  // The parts' messages as the broker holds them, before any worker takes one.
  const raw = await redis.lrange(q, 0, -1);
  assert.equal(raw.length, 3);
  const replay = raw[0]!;
  const partId = (JSON.parse(replay) as { headers: { id: string } }).headers.id;
  const w = runCli(['worker', '--app', TASKS, '--broker', REDIS, '-Q', q, '-P', 'async', '-c', '1', '--acks-late', '-l', 'info']);
  workers.push(w);
  try {
    assert.deepEqual(await res.get({ timeout: 30 }), { runs: 1, n: 3, ordered: true, first: 0, last: 2 });
    const succeeded = () => w.err().split(`[${partId}] succeeded`).length - 1;
    // The worker logs a success after the part was counted: once so far.
    await waitFor(() => succeeded() === 1, 30_000, 'the part logged once');
    await assertJoinGone(gid);
    // The same part delivered again (what a redelivery after kill -9 is), then run to the end.
    await redis.lpush(q, replay);
    await waitFor(() => succeeded() === 2, 30_000, `the replayed part ran:\n${w.err()}`);
    assert.equal(await redis.get(runs), '1', 'the body did not run again');
    await assertJoinGone(gid);
  } finally {
    w.proc.kill('SIGTERM');
    await w.exit;
    await redis.del(q, runs, chordDoneKey(gid));
  }
});

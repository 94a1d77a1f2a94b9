/**
 * ctx.progress / ctx.updateState on real Redis, from the async, thread and process pools: the
 * custom state stored in the result backend with its meta (as Celery's update_state stores it),
 * a task-progress event on the broker's event stream, and the outcome stored over it at the end.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Redis from 'ioredis';
import { App } from '../../runtime/src/index.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { ROOT, runCli, tmpDir, uniqueQueue, waitFor, type Spawned } from '../helpers.js';

const REDIS = 'redis://127.0.0.1:6379/0';
const TASKS = path.join(ROOT, 'test', 'fixtures', 'progress-tasks.ts');
const redis = new Redis(REDIS);
const queues: string[] = [];
const workers: Spawned[] = [];
const apps: App[] = [];
const ids: string[] = [];
const dir = tmpDir('sprig-progress-');

after(async () => {
  for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exit));
  for (const a of apps) await a.close();
  for (const q of queues) {
    const ks = await redis.keys(`${q}*`);
    if (ks.length) await redis.del(...ks);
    await redis.del(`_kombu.binding.${q}`);
  }
  if (ids.length) await redis.del(...ids.map((id) => `celery-task-meta-${id}`));
  redis.disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
});

for (const pool of ['async', 'thread', 'process'] as const) {
  test(`progress from the ${pool} pool: PROGRESS stored with its meta, task-progress events, SUCCESS over it`, async () => {
    const q = uniqueQueue();
    queues.push(q);
    const w = runCli(['worker', '--app', TASKS, '--broker', REDIS, '-Q', q, '-c', '1', '--pool', pool, '-E', '--loglevel', 'info']);
    workers.push(w);
    await waitFor(() => w.err().includes('ready:') || w.proc.exitCode !== null, 30_000, 'worker ready');
    assert.equal(w.proc.exitCode, null, w.err());
    const app = new App({ brokerUrl: REDIS, defaultQueue: q });
    apps.push(app);
    const events: SprigEvent[] = [];
    const off = await (await app.broker()).subscribeEvents((e) => events.push(e));
    const gate = path.join(dir, `${pool}.gate`);
    const r = app.sendTask('crunch', [10, gate]);
    ids.push(r.id);
    // Halfway it waits for the gate: the stored state is its progress, 5 of 10.
    const meta = await waitFor(async () => {
      const raw = await redis.get(`celery-task-meta-${r.id}`);
      const m = raw ? JSON.parse(raw) : null;
      return m?.status === 'PROGRESS' && m.result?.done === 5 ? m : null;
    }, 30_000, 'PROGRESS 5/10 stored');
    assert.deepEqual(meta.result, { step: 'step 5', done: 5, total: 10 });
    assert.equal(meta.name, 'crunch');
    const mine = () => events.filter((e): e is Extract<SprigEvent, { type: 'task-progress' }> => e.type === 'task-progress' && e.uuid === r.id);
    await waitFor(() => mine().some((e) => e.done === 5), 30_000, 'task-progress 5/10 event');
    const e5 = mine().find((e) => e.done === 5)!;
    assert.equal(e5.custom_state, 'PROGRESS');
    assert.equal(e5.total, 10);
    assert.deepEqual(e5.meta, { step: 'step 5', done: 5, total: 10 });
    fs.writeFileSync(gate, '');
    assert.equal(await r.get({ timeout: 30 }), 10);
    const done = JSON.parse((await redis.get(`celery-task-meta-${r.id}`))!);
    assert.equal(done.status, 'SUCCESS', 'the outcome is stored over the progress');
    // Throttled, the latest kept: no more events than steps, and none after the task ended.
    await waitFor(() => events.some((e) => e.type === 'task-succeeded' && 'uuid' in e && e.uuid === r.id), 30_000, 'task-succeeded');
    assert.ok(mine().length <= 10);
    const endAt = events.findIndex((e) => e.type === 'task-succeeded' && 'uuid' in e && e.uuid === r.id);
    assert.ok(events.slice(endAt).every((e) => e.type !== 'task-progress' || !('uuid' in e) || e.uuid !== r.id), 'no progress after the outcome');
    await off();
  });
}

test('updateState: a custom state with a meta holding a BigInt (process pool), and a built-in state refused with a message', async () => {
  const q = uniqueQueue();
  queues.push(q);
  const w = runCli(['worker', '--app', TASKS, '--broker', REDIS, '-Q', q, '-c', '1', '--pool', 'process', '-E', '--loglevel', 'info']);
  workers.push(w);
  await waitFor(() => w.err().includes('ready:') || w.proc.exitCode !== null, 30_000, 'worker ready');
  const app = new App({ brokerUrl: REDIS, defaultQueue: q });
  apps.push(app);
  const gate = path.join(dir, 'stage.gate');
  const r = app.sendTask('stage', [gate]);
  ids.push(r.id);
  const raw = await waitFor(async () => {
    const s = await redis.get(`celery-task-meta-${r.id}`);
    return s && JSON.parse(s).status === 'UPLOADING' ? s : null;
  }, 30_000, 'UPLOADING stored');
  assert.match(raw, /"bytes":\s*100000000000000000000\b/, 'the BigInt is stored exactly');
  fs.writeFileSync(gate, '');
  assert.match(String(await r.get({ timeout: 30 })), /"SUCCESS" is a state the worker sets itself/);
});

/** `sprig beat` sends ordinary protocol-v2 task messages: a Python Celery 5.2 worker runs them (Redis). */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { beatTaskId } from '../../runtime/src/beat/beat.js';
import { leaseKeys } from '../../runtime/src/brokers/redis/redis-lease.js';
import { CLI, REDIS_URL, spawnProc, until, World } from './helpers.js';

describe('sprig beat -> a Python Celery worker (Redis)', () => {
  const w = new World('redis');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprig-beat-interop-'));
  const name = `test-${randomUUID()}`;
  after(async () => {
    await w.cleanup();
    const r = new Redis(REDIS_URL);
    await r.del(leaseKeys(name).lease, leaseKeys(name).state);
    r.disconnect();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a Celery worker runs what beat sends: every run, with its args and kwargs', async () => {
    fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"beat-interop","private":true}');
    const tasks = path.join(dir, 'tasks.ts');
    fs.writeFileSync(
      tasks,
      `import { defineSchedule } from 'sprig-queue';\n` +
        `export const schedule = defineSchedule({\n` +
        `  add: { task: 'app.add', every: 1, args: [2], kwargs: { y: 3 }, options: { queue: '${w.queues.py}', expires: 60 } },\n` +
        `});\n`,
    );
    const celery = w.startCeleryWorker();
    await w.celeryWorkerReady(celery);
    const beat = w.track(
      spawnProc('sprig beat', process.execPath, [CLI, 'beat', '--app', tasks, '--broker', w.url, '--name', name], { cwd: dir, env: { SPRIG_PROJECT_DIR: dir, SPRIG_LOG_LEVEL: 'info' } }),
    );
    const redis = new Redis(REDIS_URL);
    try {
      for (let n = 1; n <= 2; n++) {
        const sentDue = () => [...beat.output.matchAll(/sent app\.add \(add\) due (\S+)/g)].map((x) => x[1]!);
        const sent = await until(() => (sentDue().length >= n ? sentDue() : null), 30_000, `run ${n} sent\n${beat.output}`);
        const id = beatTaskId(name, 'add', Date.parse(sent[n - 1]!));
        w.taskIds.add(id);
        const meta = await until(async () => {
          const raw = await redis.get(`celery-task-meta-${id}`);
          return raw ? (JSON.parse(raw) as { status: string; result: unknown }) : null;
        }, 30_000, `the Celery worker to run beat's run ${n} (${id})`);
        assert.deepEqual([meta.status, meta.result], ['SUCCESS', 5]);
      }
      assert.match(celery.output, /Task app\.add\[[0-9a-f-]+\] succeeded/);
    } finally {
      redis.disconnect();
    }
  });
});

/**
 * Celery's task API inside a Sprig task, Sprig only, on Redis (process pool: ctx crosses to the
 * children), the embedded broker (thread pool) and Redis with PostgreSQL results (async pool):
 * ctx.replace with a chain in the middle of a chain, with a group inside a group and in a chord,
 * ctx.addToChord (the body sees every part), the request fields, and an error declared as a
 * Python exception (stored as one, `.args` intact); and the PostgreSQL join growing directly.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { App, chain, chord, group, TaskError, defaultApp } from '../../runtime/src/index.js';
import { ROOT, runCli, stopEmbeddedBroker, tmpDir, uniqueQueue, waitFor, type Spawned } from '../helpers.js';
import { PostgresBackend } from '../../runtime/src/brokers/postgres/postgres-backend.js';
import { PG_BASE, dropSchema, pgUrl, testSchema } from './postgres-helpers.js';
import { add, collect, grow, mul, pay, plainFail, replaceWithChain, replaceWithGroup, request, tsum } from '../fixtures/task-api-tasks.js';

const TASKS = path.join(ROOT, 'test', 'fixtures', 'task-api-tasks.ts');
const REDIS = 'redis://127.0.0.1:6379/0';
const embeddedDir = tmpDir('sprig-task-api-');
const T = { timeout: 30 };
const schema = testSchema();
const PG = pgUrl(schema);

const targets = [
  { name: 'redis (process pool)', url: REDIS, pool: ['-P', 'process', '-c', '2'], env: {} as NodeJS.ProcessEnv, projectDir: undefined as string | undefined },
  { name: 'the embedded broker (thread pool)', url: 'sprig://', pool: ['-P', 'thread', '-c', '2'], env: { SPRIG_PROJECT_DIR: embeddedDir } as NodeJS.ProcessEnv, projectDir: embeddedDir },
  // addToChord grows the chord's row in the results table.
  { name: 'redis with PostgreSQL results', url: REDIS, pool: ['-P', 'async', '-c', '4'], env: {} as NodeJS.ProcessEnv, projectDir: undefined, resultBackend: PG },
];

after(() => stopEmbeddedBroker(embeddedDir));
after(() => dropSchema(PG_BASE, schema));

async function failure(p: Promise<unknown>): Promise<TaskError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TaskError) return err;
    throw err;
  }
  assert.fail('expected the task to fail');
}

for (const t of targets) {
  describe(`task API on ${t.name}`, () => {
    const queue = uniqueQueue();
    let worker: Spawned;
    let app: App;

    before(async () => {
      const backend = t.resultBackend ? ['--result-backend', t.resultBackend] : [];
      worker = runCli(['worker', '--app', TASKS, '--broker', t.url, ...backend, '-Q', queue, ...t.pool, '-l', 'info'], { env: t.env });
      await waitFor(() => worker.err().includes('ready:') || worker.proc.exitCode !== null, 30_000, 'worker ready');
      assert.equal(worker.proc.exitCode, null, worker.err());
      const config = { brokerUrl: t.url, defaultQueue: queue, projectDir: t.projectDir, ...(t.resultBackend ? { resultBackend: t.resultBackend } : {}) };
      app = new App(config);
      defaultApp().configure(config);
    });

    after(async () => {
      if (process.env.TASK_API_DEBUG) console.error(worker.err().slice(-6000));
      worker.proc.kill('SIGTERM');
      await worker.exit;
      await app.close();
      await defaultApp().close();
      if (t.url === REDIS) {
        const r = new Redis(REDIS);
        await r.del(queue);
        r.disconnect();
      }
    });

    test('replace: the middle of a chain replaces itself with a chain; the rest of the chain follows, under the same ids', async () => {
      const first = randomUUID();
      const res = chain(add.s(1, 1).set({ taskId: first }), replaceWithChain.s(), mul.s(2)).applyAsync();
      assert.equal(await res.get(T), 60, worker.err().slice(-3000)); // ((1 + 1) + 1) * 10 * 2
      // The replaced task's id holds its replacement's result (Celery freezes it with that id).
      assert.equal(await res.parent!.get(T), 30);
      assert.equal(await app.asyncResult(first).get(T), 2);
    });

    test('replace: a group member replaces itself with a group; its result is that group\'s list', async () => {
      const g = group([add.s(1, 1), replaceWithGroup.s(5), add.s(2, 2)]).applyAsync();
      assert.deepEqual(await g.get(T), [2, [6, 7], 4], worker.err().slice(-3000));
    });

    test('replace: a chord part replaces itself with a chain, another with a group; the body gets their results in place', async () => {
      const got = await chord([add.s(1, 1), replaceWithChain.s(2), replaceWithGroup.s(0)], collect.s()).applyAsync().get(T);
      assert.deepEqual(got, [2, 30, [1, 2]], worker.err().slice(-3000));
    });

    test('replace: the replaced task\'s callbacks run after its replacement', async () => {
      const cb = randomUUID();
      replaceWithChain.applyAsync([4], {}, { link: add.s(5).set({ taskId: cb }) });
      assert.equal(await app.asyncResult(cb).get(T), 55); // (4 + 1) * 10 + 5
    });

    test('addToChord: each part adds one more; the body waits for and sees all of them', async () => {
      assert.equal(await chord([grow.s(1), grow.s(2), grow.s(3)], tsum.s()).applyAsync().get(T), 1 + 2 + 3 + 101 + 102 + 103, worker.err().slice(-3000));
      const all = (await chord([grow.s(7), add.s(1, 1)], collect.s()).applyAsync().get(T)) as number[];
      assert.deepEqual([...all].sort((a, b) => a - b), [2, 7, 107]);
    });

    test('addToChord outside a chord fails the task with ValueError, as Celery does', async () => {
      const e = await failure(grow.delay(1).get(T));
      assert.equal(e.excType, 'ValueError');
      assert.equal(e.excModule, 'builtins');
      assert.deepEqual(e.args, ['Current task is not member of any chord']);
    });

    test('request fields: deliveryInfo, headers, correlationId, groupId/groupIndex, chord, callbacks', async () => {
      const r = request.applyAsync([], {}, { priority: 3, headers: { 'x-trace': 'abc' } });
      const got = (await r.get(T)) as Record<string, unknown>;
      assert.deepEqual(got.deliveryInfo, { exchange: '', routingKey: queue, priority: 3, redelivered: false });
      assert.deepEqual(got.headers, { 'x-trace': 'abc' });
      assert.equal(got.correlationId, r.id);
      assert.equal(got.groupId, null);
      assert.equal(got.chord, null);
      const inChord = (await chord([add.s(1, 1), request.s()], collect.s()).applyAsync().get(T)) as [number, Record<string, unknown>];
      assert.equal(inChord[1].chord, 'api.collect');
      assert.equal(inChord[1].groupIndex, 1);
      assert.equal(typeof inChord[1].groupId, 'string');
      const cb = randomUUID();
      const linked = request.applyAsync([], {}, { link: collect.s().set({ taskId: cb }), linkError: collect.s() });
      const seen = (await linked.get(T)) as Record<string, unknown>;
      assert.deepEqual(seen.callbacks, ['api.collect']);
      assert.deepEqual(seen.errbacks, ['api.collect']);
      await app.asyncResult(cb).get(T);
    });

    test('a declared error is stored as its Python exception, args intact; an undeclared one as before', async () => {
      const r = pay.delay('card_expired', 42);
      const e = await failure(r.get(T));
      assert.equal(e.excType, 'PaymentDeclined');
      assert.equal(e.excModule, 'shop_errors');
      assert.deepEqual(e.args, ['card_expired', 42]);
      const backend = await app.backend();
      const meta = await backend.get(r.id);
      assert.deepEqual(meta?.result, { exc_type: 'PaymentDeclined', exc_message: ['card_expired', 42], exc_module: 'shop_errors' });
      const plain = await failure(plainFail.delay('nope').get(T));
      assert.equal(plain.excType, 'PlainError');
      assert.equal(plain.excModule, 'sprig');
      assert.deepEqual(plain.args, ['nope']);
    });
  });
}

describe('addToChord with PostgreSQL results', () => {
  test('the join waits for the added parts', async () => {
    const b = await PostgresBackend.fromUrl(PG);
    try {
      await b.chords.setSize('g1', 1);
      await b.chords.add!('g1', 1);
      const part = (taskId: string, groupIndex: number) => b.chords.partReturn({ groupId: 'g1', taskId, groupIndex, state: 'SUCCESS', result: taskId });
      assert.equal(await part('a', 0), null, 'one of two parts: not yet');
      assert.deepEqual((await part('b', 0))?.map((e) => e.result), ['a', 'b']);
      await b.chords.done('g1');
      await assert.rejects(b.chords.add!('g1', 1), /has no join/);
    } finally {
      await b.close();
    }
  });
});

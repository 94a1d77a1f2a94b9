/**
 * The canvas, Sprig only, on Redis and the embedded broker: chain (and pipe), group, chord,
 * nested forms (a group of chains, a chain through a chord, a chord inside a chain), link,
 * link_error, immutable signatures, a failing chord part (ChordError and the body's errbacks),
 * GroupResult save/restore, and a chord refused on rpc://.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { App, chain, chord, group, TaskError, ConfigError } from '../../runtime/src/index.js';
import { ROOT, runCli, stopEmbeddedBroker, tmpDir, uniqueQueue, waitFor, type Spawned } from '../helpers.js';
import { add, echo, fail, mul, tsum } from '../fixtures/canvas-tasks.js';

const TASKS = path.join(ROOT, 'test', 'fixtures', 'canvas-tasks.ts');
const REDIS = 'redis://127.0.0.1:6379/0';
const AMQP = process.env.SPRIG_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672//';
const embeddedDir = tmpDir('sprig-canvas-');
const T = { timeout: 30 };

const targets = [
  { name: 'redis', url: REDIS, env: {} as NodeJS.ProcessEnv, projectDir: undefined as string | undefined },
  { name: 'embedded', url: 'sprig://', env: { SPRIG_PROJECT_DIR: embeddedDir } as NodeJS.ProcessEnv, projectDir: embeddedDir },
];

after(() => stopEmbeddedBroker(embeddedDir));

for (const t of targets) {
  describe(`canvas on ${t.name}`, () => {
    const queue = uniqueQueue();
    let worker: Spawned;
    let app: App;

    before(async () => {
      worker = runCli(['worker', '--app', TASKS, '--broker', t.url, '-Q', queue, '-P', 'async', '-c', '8', '-E', '-l', 'info'], { env: t.env });
      await waitFor(() => worker.err().includes('ready:') || worker.proc.exitCode !== null, 30_000, 'worker ready');
      assert.equal(worker.proc.exitCode, null, worker.err());
      app = new App({ brokerUrl: t.url, defaultQueue: queue, projectDir: t.projectDir });
      // The fixture's tasks belong to the default app: send them through this one.
      const { defaultApp } = await import('../../runtime/src/index.js');
      defaultApp().configure({ brokerUrl: t.url, defaultQueue: queue, projectDir: t.projectDir });
    });

    after(async () => {
      if (process.env.CANVAS_DEBUG) console.error(worker.err().slice(-6000));
      worker.proc.kill('SIGTERM');
      await worker.exit;
      await app.close();
      const { defaultApp } = await import('../../runtime/src/index.js');
      await defaultApp().close();
      if (t.name === 'redis') {
        const r = new Redis(REDIS);
        await r.del(queue);
        r.disconnect();
      }
    });

    test('chain: each step gets the previous result first; parent is the step before', async () => {
      const res = chain(add.s(2, 2), add.s(4), mul.s(10)).applyAsync();
      assert.equal(await res.get(T), 80);
      assert.equal(await res.parent!.get(T), 8);
      assert.equal(await add.s(1, 1).pipe(mul.s(3)).delay().get(T), 6);
    });

    test('group: results in order; ready, completedCount; save and restore', async () => {
      const g = group(Array.from({ length: 10 }, (_, i) => add.s(i, i))).applyAsync();
      assert.deepEqual(await g.get(T), Array.from({ length: 10 }, (_, i) => 2 * i));
      assert.equal(await g.ready(), true);
      assert.equal(await g.completedCount(), 10);
      await g.save();
      const back = await app.restoreGroup(g.id);
      assert.ok(back);
      assert.deepEqual(back.results.map((r) => r.id), g.results.map((r) => r.id));
      assert.deepEqual(await back.get(T), await g.get(T));
      if (t.name === 'redis') {
        const r = new Redis(REDIS);
        const raw = JSON.parse((await r.get(`celery-taskset-meta-${g.id}`))!) as { result: unknown };
        await r.del(`celery-taskset-meta-${g.id}`);
        r.disconnect();
        // Celery's GroupResult.as_tuple(): [[id, parent], [[[child id, parent], null], ...]].
        assert.deepEqual(raw.result, [[g.id, null], g.results.map((c) => [[c.id, null], null])]);
      }
    });

    test('chord: the body runs once with the header results in order', async () => {
      const res = chord(Array.from({ length: 20 }, (_, i) => add.s(i, 0)), echo.s()).applyAsync();
      assert.deepEqual(await res.get(T), [Array.from({ length: 20 }, (_, i) => i)]);
      assert.equal(await chord([add.s(1, 1), add.s(2, 2)], tsum.s()).applyAsync().get(T), 6);
    });

    test('nested: a group of chains, a chain through a group (a chord), a chord inside a chain', async () => {
      const g = group([chain(add.s(1, 1), mul.s(2)), chain(add.s(2, 2), mul.s(2))]).applyAsync();
      assert.deepEqual(await g.get(T), [4, 8]);
      // add -> 2, then [2*2, 2*3] in parallel, then their sum.
      assert.equal(await chain(add.s(1, 1), group([mul.s(2), mul.s(3)]), tsum.s()).applyAsync().get(T), 10);
      // A chord, then one more step with its result.
      assert.equal(await chain(chord([add.s(1, 1), add.s(2, 2)], tsum.s()), mul.s(10)).applyAsync().get(T), 60);
      // A chord whose header parts are chains.
      assert.equal(await chord([chain(add.s(1, 1), mul.s(10)), chain(add.s(2, 2), mul.s(10))], tsum.s()).applyAsync().get(T), 60);
    });

    test('task-received events carry root_id, parent_id, group and the chord body: the canvas tree', async () => {
      const seen: Array<Record<string, unknown>> = [];
      const off = await (await app.broker()).subscribeEvents((e) => {
        if (e.type === 'task-received') seen.push(e as unknown as Record<string, unknown>);
      });
      try {
        const c = chain(add.s(1, 1), add.s(2)).applyAsync();
        assert.equal(await c.get(T), 4);
        const first = c.parent as { id: string };
        const ch = chord([add.s(1, 1), add.s(2, 2)], tsum.s()).applyAsync();
        assert.equal(await ch.get(T), 6);
        const gid = (ch.parent as { id: string }).id;
        await waitFor(() => seen.some((e) => e.uuid === ch.id), 10_000, 'the chord body received');
        const step2 = seen.find((e) => e.uuid === c.id)!;
        assert.equal(step2.root_id, first.id);
        assert.equal(step2.parent_id, first.id);
        const parts = seen.filter((e) => e.group === gid);
        assert.equal(parts.length, 2);
        for (const p of parts) assert.equal(p.chord, ch.id);
        const body = seen.find((e) => e.uuid === ch.id)!;
        assert.ok(parts.some((p) => p.uuid === body.parent_id), 'the body is sent by the part that completed the chord');
      } finally {
        await off();
      }
    });

    test('immutable: si() ignores the previous result', async () => {
      assert.equal(await chain(add.s(1, 1), add.si(5, 5)).applyAsync().get(T), 10);
      const cb = randomUUID();
      add.applyAsync([1, 1], {}, { link: mul.s(3, 3).set({ immutable: true, taskId: cb }) });
      assert.equal(await app.asyncResult(cb).get(T), 9);
      // A chain's partial args go to its first step only; an immutable first step ignores them too.
      assert.deepEqual(await chain(echo.si('fixed'), echo.s()).applyAsync(['ignored']).get(T), [['fixed']]);
    });

    test('link and linkError in applyAsync', async () => {
      const cb = randomUUID();
      add.applyAsync([2, 3], {}, { link: mul.s(10).set({ taskId: cb }) });
      assert.equal(await app.asyncResult(cb).get(T), 50);
      const eb = randomUUID();
      const failed = fail.applyAsync(['bad'], {}, { linkError: echo.s().set({ taskId: eb }) });
      await assert.rejects(failed.get(T), TaskError);
      // Celery's errback call: the failed task's id.
      assert.deepEqual(await app.asyncResult(eb).get(T), [failed.id]);
    });

    test('a failing part fails the chord with ChordError and runs the body errbacks; the chain after a failure fails too', async () => {
      const eb = randomUUID();
      const res = chord([add.s(1, 1), fail.s('part broke')], tsum.s().linkError(echo.s().set({ taskId: eb }))).applyAsync();
      const err = await res.get(T).then(
        () => assert.fail('the chord should fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TaskError, String(err));
      assert.equal(err.excType, 'ChordError');
      assert.equal(err.excModule, 'celery.exceptions');
      assert.match(String(err.excMessage[0]), /^Dependency [0-9a-f-]+ raised RangeError\('part broke'\)$/);
      assert.deepEqual(await app.asyncResult(eb).get(T), [res.id]);
      const c = chain(fail.s('first'), add.s(1), add.s(2)).applyAsync();
      await assert.rejects(c.get(T), (e: unknown) => e instanceof TaskError && e.excType === 'RangeError');
    });
  });
}

test('a chord on a backend that cannot join (rpc://) is refused when sent', async () => {
  const a = new App({ brokerUrl: AMQP, resultBackend: 'rpc://', defaultQueue: uniqueQueue() });
  const { canvasContext } = a;
  try {
    const { chord: chordOf, Signature } = await import('../../runtime/src/index.js');
    void Signature;
    const host = () => canvasContext.call(a);
    const { taskSignature } = await import('../../runtime/src/app/canvas.js');
    const c = chordOf([taskSignature<void, number>('canvas.add', [1, 1], host)], taskSignature<number[], number>('canvas.tsum', [], host));
    const res = c.applyAsync();
    await assert.rejects(res.sent, (e: unknown) => e instanceof ConfigError && /can join its parts/.test((e as Error).message));
  } finally {
    await a.close();
  }
});

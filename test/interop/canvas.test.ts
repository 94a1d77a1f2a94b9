/**
 * Canvas interop with Debian's Celery 5.2.6, on Redis and on RabbitMQ (results in Redis): a Python
 * client's chain, chord, link and link_error run on a Sprig worker; a chain that hops
 * Python -> Sprig -> Python; chords with Sprig header parts and a Python body, the other way
 * round, and a mixed header; a failing Sprig part fails the chord with Celery's ChordError; and a
 * Sprig client's chain, group and chord run on a Celery worker.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chain, chord, group } from '../../runtime/src/index.js';
import { parseJson } from '../../runtime/src/serialization/json.js';
import { World, type BrokerKind } from './helpers.js';

interface Outcome {
  value?: unknown;
  exc_type?: string;
  exc_module?: string;
  message?: string;
}

for (const kind of ['redis', 'amqp'] as BrokerKind[]) {
  describe(`canvas: Python Celery 5.2 <-> Sprig on ${kind === 'redis' ? 'Redis' : 'RabbitMQ'}`, () => {
    const w = new World(kind);

    before(async () => {
      w.celeryWorker = w.startCeleryWorker({ queues: [w.queues.py] });
      w.sprigWorker = w.startSprigWorker({ queues: [w.queues.sprig], pool: ['-P', 'async', '-c', '8'] });
      await w.sprigWorkerReady(w.sprigWorker);
      await w.celeryWorkerReady(w.celeryWorker);
    });
    after(() => w.cleanup());

    test("a Python client's canvases on Sprig workers, and hopping between Python and Sprig", async () => {
      const client = w.pyScript('canvas_client.py', { qs: w.queues.sprig, qp: w.queues.py, timeout: 60 }, w.queues.py);
      const sent = await client.waitFor(/^\{"sent": .*$/m, 30_000, 'the Python client to send');
      for (const id of Object.values((parseJson(sent[0]) as { sent: Record<string, string | null> }).sent)) if (id) w.taskIds.add(id);
      const line = await client.waitFor(/^\{"results": .*$/m, 120_000, 'the Python client to get its results');
      const r = (parseJson(line[0]) as { results: Record<string, Outcome> }).results;
      const ctx = `${JSON.stringify(r, null, 1)}\n--- sprig worker:\n${w.sprigWorker!.tail(4000)}\n--- celery worker:\n${w.celeryWorker!.tail(4000)}`;
      assert.deepEqual(r.chain_on_sprig, { value: 10 }, ctx);
      assert.deepEqual(r.chord_on_sprig, { value: 20 }, ctx);
      assert.deepEqual(r.link_on_sprig, { value: 15 }, ctx);
      assert.deepEqual(r.hop_py_sprig_py, { value: 112 }, ctx);
      assert.deepEqual(r.chord_sprig_header_py_body, { value: 10 }, ctx);
      assert.deepEqual(r.chord_py_header_sprig_body, { value: 10 }, ctx);
      assert.deepEqual(r.chord_mixed_header, { value: 20 }, ctx);
      assert.deepEqual(r.group_on_sprig, { value: [10, 11, 12] }, ctx);
      // Celery's old-style errback call from a Sprig worker: the Python errback gets the failed task's id.
      assert.deepEqual(r.link_error_on_sprig, { value: [r.failed_id!.value] }, ctx);
      const failed = r.chord_failing_sprig_part!;
      assert.equal((failed as { state?: string }).state, 'FAILURE', ctx);
      assert.equal(failed.exc_type, 'ChordError', ctx);
      assert.equal(failed.exc_module, 'celery.exceptions', ctx);
      assert.match(failed.message!, /^Dependency [0-9a-f-]+ raised TypeError\('part broke'\)$/, ctx);
    });

    test("a Sprig client's chain, group and chord on a Celery worker", async () => {
      const app = w.app();
      const add = (a: number, b?: number) => app.signature<number, number>('app.add', b === undefined ? [a] : [a, b], { queue: w.queues.py });
      const tsum = app.signature<number[], number>('app.tsum', [], { queue: w.queues.py });
      const c = chain(add(2, 2), add(4), add(8)).applyAsync();
      assert.equal(await c.get({ timeout: 30 }), 16);
      const g = group([add(1, 1), add(2, 2), add(3, 3)]).applyAsync();
      assert.deepEqual(await g.get({ timeout: 30 }), [2, 4, 6]);
      const ch = chord([add(1, 1), add(2, 2), add(3, 3)], tsum).applyAsync();
      assert.equal(await ch.get({ timeout: 30 }), 12);
      // A Sprig chord whose header runs on Python and whose body runs on Sprig.
      const onSprig = app.signature<number[], number>('proj.tasks.tsum', [], { queue: w.queues.sprig });
      assert.equal(await chord([add(5, 5), add(6, 6)], onSprig).applyAsync().get({ timeout: 30 }), 22);
      for (const id of [c.id, ch.id, ...g.results.map((x) => x.id)]) w.taskIds.add(id);
    });
  });
}

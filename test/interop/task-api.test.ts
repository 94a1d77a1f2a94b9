/**
 * Celery's task API inside Sprig tasks, with Debian's Celery 5.2.6 on Redis: a Python client's
 * chain whose middle task (on Sprig) replaces itself with a chain, a group member that replaces
 * itself with a group, a chord whose parts call addToChord, the request fields of a task sent from
 * Python with a priority, a routing key and a header (the same fields a Celery worker reports for
 * the same send), and a Python `except` catching a Sprig task's declared exception with two args.
 * Then the same calls from a Sprig client, and a Python failure with two args reaching Sprig.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chain, chord, group, TaskError } from '../../runtime/src/index.js';
import { parseJson } from '../../runtime/src/serialization/json.js';
import { World } from './helpers.js';

type R = Record<string, { value?: unknown; caught?: string; args?: unknown[]; exc_type?: string; exc_module?: string; message?: string }>;

describe('task API: Python Celery 5.2 <-> Sprig on Redis', () => {
  const w = new World('redis');

  before(async () => {
    w.celeryWorker = w.startCeleryWorker({ queues: [w.queues.py] });
    w.sprigWorker = w.startSprigWorker({ queues: [w.queues.sprig], pool: ['-P', 'async', '-c', '8'] });
    await w.sprigWorkerReady(w.sprigWorker);
    await w.celeryWorkerReady(w.celeryWorker);
  });
  after(() => w.cleanup());

  test('a Python client: replace in a chain and in a group, addToChord, request fields, a declared exception caught by its class', async () => {
    const client = w.pyScript('task_api_client.py', { qs: w.queues.sprig, qp: w.queues.py, timeout: 60 }, w.queues.py);
    const sent = await client.waitFor(/^\{"sent": .*$/m, 30_000, 'the Python client to send');
    for (const id of Object.values((parseJson(sent[0]) as { sent: Record<string, string> }).sent)) w.taskIds.add(id);
    const line = await client.waitFor(/^\{"results": .*$/m, 120_000, 'the Python client to get its results');
    const r = (parseJson(line[0]) as { results: R }).results;
    const ctx = `${JSON.stringify(r, null, 1)}\n--- sprig worker:\n${w.sprigWorker!.tail(4000)}\n--- celery worker:\n${w.celeryWorker!.tail(3000)}`;
    assert.deepEqual(r.replace_in_chain, { value: 60 }, ctx);
    assert.deepEqual(r.replace_in_chain_parent, { value: 30 }, ctx);
    assert.deepEqual(r.replace_in_group, { value: [2, [6, 7], 4] }, ctx);
    assert.deepEqual(r.add_to_chord, { value: 1 + 2 + 101 + 102 }, ctx);
    assert.deepEqual(r.declined, { caught: 'shop_errors.PaymentDeclined', args: ['card_expired', 42] }, ctx);
    // What Sprig's task saw of the message, and what Celery's own worker saw of the same send.
    const sprig = r.request_sprig!.value as Record<string, unknown>;
    const celery = r.request_celery!.value as Record<string, unknown>;
    assert.ok(sprig && celery, ctx);
    // Celery's worker: the default exchange, the routing key, the priority; Sprig's the same (and redelivered).
    assert.deepEqual(celery.deliveryInfo, { exchange: '', routingKey: w.queues.py, priority: 5 }, ctx);
    assert.deepEqual(sprig.deliveryInfo, { exchange: '', routingKey: w.queues.sprig, priority: 5, redelivered: false }, ctx);
    assert.deepEqual(celery.headers, { 'x-trace': 'py' }, ctx);
    assert.deepEqual(sprig.headers, { 'x-trace': 'py' }, ctx);
    assert.equal(celery.correlationId, r.request_celery_id!.value, ctx);
    assert.equal(sprig.correlationId, r.request_sprig_id!.value, ctx);
    // The Python client's result queue (Celery sets reply_to on every message it sends).
    assert.equal(typeof celery.replyTo, 'string', ctx);
    assert.match(String(sprig.replyTo), /^[0-9a-f-]{36}$/, ctx);
  });

  test('a Sprig client: the same calls, and a Python failure with two args reaching Sprig as an array', async () => {
    const app = w.app({ defaultQueue: w.queues.sprig });
    const sig = <In = unknown, Out = unknown>(name: string, ...args: unknown[]) => app.signature<In, Out>(name, args, { queue: w.queues.sprig });
    const T = { timeout: 30 };
    const c = chain(sig('api.add', 1, 1), sig('api.replace_with_chain'), sig('api.mul', 2)).applyAsync();
    assert.equal(await c.get(T), 60, w.sprigWorker!.tail(3000));
    assert.equal(await c.parent!.get(T), 30);
    assert.deepEqual(await group([sig('api.add', 1, 1), sig('api.replace_with_group', 5), sig('api.add', 2, 2)]).applyAsync().get(T), [2, [6, 7], 4]);
    assert.equal(await chord([sig('api.grow', 1), sig('api.grow', 2)], sig<unknown[], number>('api.tsum')).applyAsync().get(T), 206);
    const req = app.sendTask('api.request', [], {}, { queue: w.queues.sprig, priority: 5, headers: { 'x-trace': 'ts' } });
    const seen = (await req.get(T)) as Record<string, unknown>;
    assert.deepEqual(seen.deliveryInfo, { exchange: '', routingKey: w.queues.sprig, priority: 5, redelivered: false });
    assert.deepEqual(seen.headers, { 'x-trace': 'ts' });
    assert.equal(seen.correlationId, req.id);
    const declined = app.sendTask('api.pay', ['card_expired', 42], {}, { queue: w.queues.sprig });
    const pyFail = app.sendTask('app.declined', ['insufficient_funds', 7], {}, { queue: w.queues.py });
    for (const id of [c.id, req.id, declined.id, pyFail.id]) w.taskIds.add(id);
    for (const [res, args] of [
      [declined, ['card_expired', 42]],
      [pyFail, ['insufficient_funds', 7]],
    ] as const) {
      const err = await res.get(T).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TaskError, String(err));
      assert.equal(err.excType, 'PaymentDeclined');
      assert.equal(err.excModule, 'shop_errors');
      assert.deepEqual(err.args, args);
    }
  });
});

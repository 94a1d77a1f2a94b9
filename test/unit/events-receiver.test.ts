/** The receiver's own behaviour on the in-memory broker: typed handlers, '*', capture, errors, close. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { App, type SprigEvent, type TaskSucceededEvent } from '../../runtime/src/index.js';

const ev = (uuid: string, type = 'task-succeeded'): SprigEvent => ({ type, hostname: 'w@h', pid: 1, clock: 1, timestamp: 1, utcoffset: 0, uuid, result: '1', runtime: 0.1 }) as SprigEvent;

test('handlers by name and *, capture(limit), off, an error handler, nothing after close', async () => {
  const app = new App({ brokerUrl: `memory://${randomUUID()}` });
  const broker = await app.broker();
  const succeeded: TaskSucceededEvent[] = [];
  const all: string[] = [];
  const errors: string[] = [];
  const state = app.events.state();
  const r = app.events.receiver(
    {
      'task-succeeded': (e) => void succeeded.push(e),
      '*': (e) => void all.push(e.type),
      error: (err, e) => void errors.push(`${(err as Error).message} ${e.type}`),
    },
    { state },
  );
  const boom = () => {
    throw new Error('handler bug');
  };
  r.on('task-failed', boom);
  const captured = r.capture({ limit: 3 });
  await r.start();
  broker.publishEvent(ev('a'));
  broker.publishEvent(ev('b', 'task-failed'));
  broker.publishEvent(ev('c'));
  broker.publishEvent(ev('d'));
  assert.equal(await captured, 3);
  assert.deepEqual(succeeded.map((e) => e.uuid), ['a', 'c', 'd']);
  assert.deepEqual(all, ['task-succeeded', 'task-failed', 'task-succeeded', 'task-succeeded']);
  assert.deepEqual(errors, ['handler bug task-failed']);
  assert.equal(state.tasks.get('a')!.state, 'SUCCESS');
  r.off('task-failed', boom);
  broker.publishEvent(ev('e', 'task-failed'));
  // Delivery is asynchronous: let 'e' arrive, then nothing more may come.
  for (let i = 0; i < 1000 && all.length < 5; i++) await new Promise((res) => setTimeout(res, 5));
  assert.equal(all.length, 5);
  assert.equal(errors.length, 1);
  assert.equal(await r.capture({ timeout: 0.01 }), 0);
  await r.close();
  broker.publishEvent(ev('f'));
  assert.equal(all.length, 5);
  assert.equal(r.count, 5);
  await assert.rejects(r.start(), /closed/);
  await app.close();
});

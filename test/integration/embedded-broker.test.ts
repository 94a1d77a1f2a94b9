import { after, afterEach, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import WebSocket from 'ws';
import { startEmbeddedServer, type EmbeddedServer } from '../../runtime/src/brokers/embedded/server.js';
import { EmbeddedBroker } from '../../runtime/src/brokers/embedded/embedded-broker.js';
import { brokerInfoPath, probeBroker, readBrokerInfo } from '../../runtime/src/brokers/embedded/discovery.js';
import { buildTaskMessage } from '../../runtime/src/protocol/message.js';
import { TimeoutError } from '../../runtime/src/errors.js';
import type { Delivery, ControlRequest } from '../../runtime/src/brokers/types.js';
import type { ResultMeta } from '../../runtime/src/backends/types.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';

const tmp = () => fs.mkdtempSync(os.tmpdir() + '/sprig-test-');
const msg = (i: number, priority?: number) => buildTaskMessage({ name: 'tasks.add', args: [i], priority });
const argOf = (d: Delivery) => (JSON.parse(d.message!.body.toString('utf8')) as [number[]])[0][0];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

function meta(taskId: string, status: ResultMeta['status'], result: unknown = null): ResultMeta {
  return { task_id: taskId, status, result, traceback: null, children: [], date_done: new Date().toISOString() };
}

describe('embedded broker', () => {
  let dir: string;
  let server: EmbeddedServer;
  const clients: EmbeddedBroker[] = [];
  const client = async () => {
    const b = new EmbeddedBroker(`sprig://127.0.0.1:${server.port}?token=${server.token}`, { projectDir: dir });
    await b.connect();
    clients.push(b);
    return b;
  };

  before(async () => {
    dir = tmp();
    server = await startEmbeddedServer({ dir });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    const b = new EmbeddedBroker(`sprig://127.0.0.1:${server.port}?token=${server.token}`);
    for (const q of ['q', 'q.dead-letter', 'p']) await b.purge(q);
    await b.close();
  });
  after(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('publishes, consumes and acks', async () => {
    const b = await client();
    await b.publishBatch([0, 1, 2].map((i) => ({ queue: 'q', message: msg(i) })));
    assert.equal(await b.queueLength('q'), 3);
    const got: number[] = [];
    await b.consume(['q'], 10, (d) => {
      assert.equal(d.redelivered, false);
      got.push(argOf(d));
      b.ack(d);
    });
    await until(() => got.length === 3);
    await b.flush();
    assert.deepEqual(got, [0, 1, 2]);
    assert.equal(await b.queueLength('q'), 0);
  });

  it('respects the prefetch limit', async () => {
    const b = await client();
    await Promise.all(Array.from({ length: 10 }, (_, i) => b.publish('q', msg(i))));
    const held: Delivery[] = [];
    const c = await b.consume(['q'], 3, (d) => held.push(d));
    await sleep(100);
    assert.equal(held.length, 3);
    b.ack(held[0]!);
    await until(() => held.length === 4);
    await sleep(50);
    assert.equal(held.length, 4);
    c.setPrefetch(6);
    await until(() => held.length === 7);
    await sleep(50);
    assert.equal(held.length, 7);
  });

  it('reject(requeue) redelivers at the front; reject dead-letters with the reason', async () => {
    const b = await client();
    await b.publishBatch([0, 1, 2].map((i) => ({ queue: 'q', message: msg(i) })));
    const seen: Delivery[] = [];
    await b.consume(['q'], 1, (d) => seen.push(d));
    await until(() => seen.length === 1);
    await b.reject(seen[0]!, true);
    await until(() => seen.length === 2);
    assert.equal(argOf(seen[1]!), 0);
    assert.equal(seen[1]!.redelivered, true);
    await b.reject(seen[1]!, false, 'bad input');
    await until(() => seen.length === 3);
    assert.equal(argOf(seen[2]!), 1);
    assert.equal(await b.deadLetterLength('q'), 1);
    const dl: Delivery[] = [];
    const other = await client();
    await other.consume(['q.dead-letter'], 1, (d) => dl.push(d));
    await until(() => dl.length === 1);
    const body = JSON.parse(String(dl[0]!.raw)) as { reason: string; raw: string };
    assert.equal(body.reason, 'bad input');
    assert.equal((JSON.parse(body.raw) as { headers: { task: string } }).headers.task, 'tasks.add');
  });

  it('serves lower priority numbers first', async () => {
    const b = await client();
    await b.publishBatch([5, 9, 0, 3, 0].map((p, i) => ({ queue: 'p', message: msg(i, p) })));
    const got: number[] = [];
    await b.consume(['p'], 10, (d) => {
      got.push(d.message!.properties.priority!);
      b.ack(d);
    });
    await until(() => got.length === 5);
    assert.deepEqual(got, [0, 0, 3, 5, 9]);
  });

  it('delivers undecodable envelopes with error and raw set', async () => {
    const b = await client();
    await b.injectRaw('q', 'not json');
    const got: Delivery[] = [];
    await b.consume(['q'], 1, (d) => got.push(d));
    await until(() => got.length === 1);
    assert.ok(got[0]!.error);
    assert.equal(got[0]!.message, undefined);
    assert.equal(got[0]!.raw, 'not json');
    await b.reject(got[0]!, false, 'undecodable');
  });

  it('returns the messages a dropped connection held, redelivered, at the front', async () => {
    const a = await client();
    await a.publishBatch([0, 1, 2, 3].map((i) => ({ queue: 'q', message: msg(i) })));
    const held: Delivery[] = [];
    await a.consume(['q'], 2, (d) => held.push(d));
    await until(() => held.length === 2);
    await a.close();
    const b = await client();
    const got: Delivery[] = [];
    await b.consume(['q'], 10, (d) => {
      got.push(d);
      b.ack(d);
    });
    await until(() => got.length === 4);
    assert.deepEqual(got.map(argOf), [0, 1, 2, 3]);
    assert.deepEqual(got.map((d) => d.redelivered), [true, true, false, false]);
  });

  it('stores results; waitFor resolves when ready and times out otherwise', async () => {
    const b = await client();
    const backend = b.createBackend();
    await backend.store(meta('t1', 'STARTED'));
    assert.equal((await backend.get('t1'))?.status, 'STARTED');
    const waiting = backend.waitFor('t1', 5000);
    await sleep(20);
    await backend.store(meta('t1', 'SUCCESS', 42));
    assert.equal((await waiting).result, 42);
    await assert.rejects(backend.waitFor('t2', 100), TimeoutError);
    assert.equal(await backend.get('missing'), null);
    await backend.forget('t1');
    assert.equal(await backend.get('t1'), null);
  });

  it('fans events out to every subscriber', async () => {
    const a = await client();
    const b = await client();
    const c = await client();
    const gotA: SprigEvent[] = [];
    const gotB: SprigEvent[] = [];
    await a.subscribeEvents((e) => gotA.push(e));
    const off = await b.subscribeEvents((e) => gotB.push(e));
    const ev = (i: number): SprigEvent => ({
      type: 'task-started',
      uuid: `u${i}`,
      hostname: 'w@h',
      pid: 1,
      clock: i,
      timestamp: Date.now() / 1000,
      utcoffset: 0,
    });
    c.publishEvent(ev(1));
    c.publishEvent(ev(2));
    await until(() => gotA.length === 2 && gotB.length === 2);
    await off();
    c.publishEvent(ev(3));
    await until(() => gotA.length === 3);
    await sleep(50);
    assert.equal(gotB.length, 2);
  });

  it('broadcasts control requests and collects replies', async () => {
    const workers = [await client(), await client()];
    const admin = await client();
    for (const [i, w] of workers.entries()) {
      await w.subscribeControl((r: ControlRequest) => {
        void w.reply(r.reply_to!, r.ticket, { [`w${i}`]: { ok: 'pong' } });
      });
    }
    const req: ControlRequest = {
      method: 'ping',
      arguments: {},
      destination: null,
      ticket: 't-1',
      reply_to: { exchange: 'reply.celery.pidbox', routing_key: 'r-1' },
    };
    const collecting = admin.collectReplies('r-1', 2000, 2);
    await admin.broadcast(req);
    const replies = await collecting;
    assert.equal(replies.length, 2);
    // Without `expected` it waits out the timeout and returns what came.
    const t0 = Date.now();
    assert.deepEqual(await admin.collectReplies('r-none', 150), []);
    assert.ok(Date.now() - t0 >= 140);
  });

  it('refuses a wrong or missing token with 401', async () => {
    assert.equal(await probeBroker(server.port, 'nope'), false);
    assert.equal(await probeBroker(server.port, server.token), true);
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, { headers: { Authorization: 'Bearer wrong' } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => undefined);
    });
    assert.equal(status, 401);
    const bad = new EmbeddedBroker(`sprig://127.0.0.1:${server.port}?token=wrong`);
    await assert.rejects(bad.connect(), /refused the token \(HTTP 401\)/);
    await bad.close();
  });

  it('writes broker.json with mode 0600', () => {
    const info = readBrokerInfo(dir);
    assert.equal(info?.port, server.port);
    assert.equal(info?.pid, process.pid);
    assert.equal(info?.token, server.token);
    if (process.platform !== 'win32') assert.equal(fs.statSync(brokerInfoPath(dir)).mode & 0o777, 0o600);
  });
});

describe('embedded broker reconnect', () => {
  it('reconnects to a restarted broker (new port), re-subscribes, and publishes wait for it', async () => {
    const dir = tmp();
    let server = await startEmbeddedServer({ dir });
    const b = new EmbeddedBroker('sprig://', { projectDir: dir, noAutostart: true, publishTimeoutMs: 10_000 });
    const events: string[] = [];
    b.on('disconnect', () => events.push('disconnect'));
    b.on('reconnect', () => events.push('reconnect'));
    await b.connect();
    const got: number[] = [];
    await b.consume(['q'], 10, (d) => {
      got.push(argOf(d));
      b.ack(d);
    });
    await b.publish('q', msg(1));
    await until(() => got.length === 1);
    await server.close();
    await until(() => events.includes('disconnect'));
    const pending = b.publish('q', msg(2));
    await sleep(200);
    server = await startEmbeddedServer({ dir });
    await pending;
    await until(() => got.length === 2);
    assert.deepEqual(got, [1, 2]);
    assert.deepEqual(events, ['disconnect', 'reconnect']);
    await b.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('fails a publish with ConnectionError once publishTimeoutMs passes', async () => {
    const dir = tmp();
    const server = await startEmbeddedServer({ dir });
    const b = new EmbeddedBroker('sprig://', { projectDir: dir, noAutostart: true, publishTimeoutMs: 300 });
    await b.connect();
    await server.close();
    await sleep(50);
    await assert.rejects(b.publish('q', msg(1)), { code: 'E_CONNECTION' });
    await b.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

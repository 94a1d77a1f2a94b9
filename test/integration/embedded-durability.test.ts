import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedBroker } from '../../runtime/src/brokers/embedded/embedded-broker.js';
import { startEmbeddedServer } from '../../runtime/src/brokers/embedded/server.js';
import { probeBroker, readBrokerInfo } from '../../runtime/src/brokers/embedded/discovery.js';
import { buildTaskMessage } from '../../runtime/src/protocol/message.js';
import type { Delivery } from '../../runtime/src/brokers/types.js';

const tmp = () => fs.mkdtempSync(os.tmpdir() + '/sprig-test-');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const root = path.resolve(__dirname, '../..');
const argOf = (d: Delivery) => (JSON.parse(d.message!.body.toString('utf8')) as [number[]])[0][0];

async function spawnServer(dir: string): Promise<{ child: ChildProcess; port: number; token: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'runtime/src/brokers/embedded/server-main.ts', '--dir', dir],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const end = Date.now() + 15_000;
  for (;;) {
    const info = readBrokerInfo(dir);
    if (info && info.pid === child.pid && (await probeBroker(info.port, info.token))) {
      return { child, port: info.port, token: info.token };
    }
    if (Date.now() > end) throw new Error('server did not start');
    await sleep(50);
  }
}

/** Drain `queue` on a fresh in-process server over `dir`; returns how often each argument came. */
async function drain(dir: string, queue: string): Promise<Map<number, number>> {
  const server = await startEmbeddedServer({ dir });
  const b = new EmbeddedBroker(`sprig://127.0.0.1:${server.port}?token=${server.token}`);
  await b.connect();
  const total = await b.queueLength(queue);
  const counts = new Map<number, number>();
  let n = 0;
  await new Promise<void>((resolve) => {
    if (total === 0) resolve();
    void b.consume([queue], 500, (d) => {
      const a = argOf(d);
      counts.set(a, (counts.get(a) ?? 0) + 1);
      b.ack(d);
      if (++n === total) resolve();
    });
  });
  await b.close();
  await server.close();
  return counts;
}

describe('embedded broker durability', () => {
  it('every acknowledged publish survives kill -9 of the broker', async () => {
    const dir = tmp();
    const { child, port, token } = await spawnServer(dir);
    const b = new EmbeddedBroker(`sprig://127.0.0.1:${port}?token=${token}`, { publishTimeoutMs: 1000 });
    await b.connect();
    const N = 20_000;
    const acked = new Set<number>();
    let failed = 0;
    let killedAt = -1;
    const all: Array<Promise<void>> = [];
    for (let w = 0; w < N / 100; w++) {
      for (let i = 0; i < 100; i++) {
        const n = w * 100 + i;
        all.push(
          b.publish('burst', buildTaskMessage({ name: 'tasks.n', args: [n] })).then(
            () => {
              acked.add(n);
              // Kill mid-burst: thousands acknowledged, thousands more on the wire or being written.
              if (killedAt < 0 && acked.size >= 5000) {
                killedAt = acked.size;
                child.kill('SIGKILL');
              }
            },
            () => void failed++,
          ),
        );
      }
      await new Promise((r) => setImmediate(r));
    }
    await Promise.allSettled(all);
    await b.close();
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
    assert.equal(child.signalCode, 'SIGKILL');
    assert.ok(killedAt > 0, 'the kill happened during the burst');
    assert.ok(failed > 0, 'some publishes were cut off by the kill');

    const counts = await drain(dir, 'burst');
    let recovered = 0;
    for (const n of acked) if (counts.has(n)) recovered++;
    const dupes = [...counts.values()].filter((c) => c > 1).length;
    console.log(
      `acknowledged=${acked.size} recovered=${recovered} (total in journal ${counts.size}, unacknowledged ${failed}, duplicates ${dupes})`,
    );
    assert.equal(recovered, acked.size, 'every acknowledged publish is there');
    assert.equal(dupes, 0, 'no message is there twice');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('recovers the valid prefix of a journal with a garbage tail', async () => {
    const dir = tmp();
    let server = await startEmbeddedServer({ dir });
    let b = new EmbeddedBroker(`sprig://127.0.0.1:${server.port}?token=${server.token}`);
    await Promise.all(Array.from({ length: 100 }, (_, i) => b.publish('q', buildTaskMessage({ name: 't', args: [i] }))));
    await b.close();
    await server.close();
    const file = server.journalPath;
    const size = fs.statSync(file).size;
    fs.appendFileSync(file, Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, 5, 6, 7]));
    fs.appendFileSync(file, 'garbage after the torn record');

    server = await startEmbeddedServer({ dir });
    assert.equal(fs.statSync(file).size, size, 'torn tail truncated');
    b = new EmbeddedBroker(`sprig://127.0.0.1:${server.port}?token=${server.token}`);
    assert.equal(await b.queueLength('q'), 100);
    await b.publish('q', buildTaskMessage({ name: 't', args: [100] }));
    await b.close();
    await server.close();
    const counts = await drain(dir, 'q');
    assert.equal(counts.size, 101);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('compaction keeps live messages and results across a restart', async () => {
    const dir = tmp();
    let server = await startEmbeddedServer({ dir, compactBytes: 256 * 1024 });
    const url = () => `sprig://127.0.0.1:${server.port}?token=${server.token}`;
    let b = new EmbeddedBroker(url());
    await b.createBackend().store({
      task_id: 'r1',
      status: 'SUCCESS',
      result: 'kept',
      traceback: null,
      children: [],
      date_done: null,
    });
    await Promise.all(Array.from({ length: 10 }, (_, i) => b.publish('keep', buildTaskMessage({ name: 't', args: [i] }))));
    // Churn: publish and ack a few MB so the journal passes the threshold mostly dead.
    let acked = 0;
    await b.consume(['churn'], 200, (d) => {
      b.ack(d);
      acked++;
    });
    for (let round = 0; round < 100; round++) {
      await Promise.all(
        Array.from({ length: 50 }, (_, i) => b.publish('churn', buildTaskMessage({ name: 't', args: [round * 50 + i] }))),
      );
      while (acked < (round + 1) * 50) await sleep(1);
    }
    await b.flush();
    await sleep(100);
    assert.ok(fs.statSync(server.journalPath).size < 1024 * 1024, 'the journal was compacted');
    await b.close();
    await server.close();

    server = await startEmbeddedServer({ dir });
    b = new EmbeddedBroker(url());
    assert.equal(await b.queueLength('keep'), 10);
    assert.equal(await b.queueLength('churn'), 0);
    assert.equal((await b.createBackend().get('r1'))?.result, 'kept');
    await b.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

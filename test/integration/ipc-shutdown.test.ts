/**
 * Shutdown without signals (Windows has none to give), run here on Linux through the very same
 * path: `sprig worker` and its pool children stopped over IPC, readiness from the IPC 'ready'
 * message, a worker whose parent goes away, and the embedded broker stopped by its own `shutdown`
 * request with its journal intact. Each stop asserts that no signal ended the process.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { App } from '../../runtime/src/index.js';
import { isWorkerReady, stopChild, type WorkerReady } from '../../runtime/src/util/child-ipc.js';
import { brokerInfoPath, probeBroker, readBrokerInfo } from '../../runtime/src/brokers/embedded/discovery.js';
import { stopEmbeddedBroker } from '../../runtime/src/brokers/embedded/client.js';
import { EmbeddedBroker } from '../../runtime/src/brokers/embedded/embedded-broker.js';
import { buildTaskMessage } from '../../runtime/src/protocol/message.js';
import { ROOT, cliResult, runCli, tmpDir, uniqueQueue, waitFor, type Spawned } from '../helpers.js';

const TASKS = path.join(ROOT, 'test/fixtures/ipc-tasks.ts');
const projectDir = tmpDir('sprig-ipc-');
const env = { SPRIG_PROJECT_DIR: projectDir };
const workers: Spawned[] = [];
const apps: App[] = [];

after(async () => {
  for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
  for (const a of apps) await a.close();
  await stopEmbeddedBroker(projectDir);
});

function nextReady(proc: ChildProcess, timeoutMs = 60_000): Promise<WorkerReady> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no ready message over IPC')), timeoutMs);
    const onMessage = (m: unknown) => {
      if (!isWorkerReady(m)) return;
      clearTimeout(t);
      proc.off('message', onMessage);
      resolve(m);
    };
    proc.on('message', onMessage);
    proc.once('exit', (code) => reject(new Error(`the worker exited (code ${code}) before it was ready`)));
  });
}

async function startWorker(queue: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const w = runCli(['worker', '--app', TASKS, '--broker', 'sprig://', '-Q', queue, ...args], { env: { ...env, ...extraEnv }, ipc: true });
  workers.push(w);
  const ready = await nextReady(w.proc).catch((err: Error) => {
    throw new Error(`${err.message}\n${w.err()}`);
  });
  return { w, ready };
}

function client(queue: string): App {
  const a = new App({ brokerUrl: 'sprig://', defaultQueue: queue, projectDir });
  apps.push(a);
  return a;
}

async function waitRunning(app: App, id: string): Promise<void> {
  await waitFor(
    async () => (await app.control.inspect('active', { timeout: 1 })).some((r) => (Object.values(r)[0] as Array<{ id: string }>).some((x) => x.id === id)),
    30_000,
    'the task to run',
  );
}

describe('sprig worker over IPC', () => {
  for (const pool of ['process', 'thread'] as const) {
    test(`${pool} pool: ready over IPC; a warm shutdown request finishes the running task, the pool child exits on its request, and the worker exits 0 with no signal`, async () => {
      const queue = uniqueQueue();
      const marker = path.join(tmpDir('sprig-ipc-marker-'), 'exits');
      const { w, ready } = await startWorker(queue, ['--pool', pool, '-c', '1', '--loglevel', 'debug'], { SPRIG_TEST_EXIT_MARKER: marker });
      assert.equal(ready.pid, w.proc.pid);
      assert.deepEqual(ready.queues, [queue]);
      assert.equal(ready.pool, pool);
      assert.equal(ready.concurrency, 1);
      assert.match(ready.hostname, /@/);
      assert.equal(ready.broker, 'sprig://');

      const app = client(queue);
      const r = app.sendTask('sleep', [3000]);
      await waitRunning(app, r.id);
      const exit = await stopChild(w.proc, { mode: 'warm', graceMs: 60_000 });
      assert.deepEqual(exit, { code: 0, signal: null, how: 'ipc' }, w.err());
      assert.equal(await r.get({ timeout: 30 }), 3000, 'the running task finished during the warm shutdown');
      assert.match(w.err(), /shutdown requested over IPC: warm shutdown/);
      assert.match(w.err(), /pool child \d+ exited \(code 0\) after the shutdown request/);
      assert.doesNotMatch(w.err(), /killing it/);
      // The child ran its exit handlers: it left by itself, it was not killed.
      assert.match(fs.readFileSync(marker, 'utf8'), /^\d+ 0\n$/);
    });
  }

  test('a cold shutdown request stops at once: the running task does not finish, no signal is used', async () => {
    const queue = uniqueQueue();
    const { w } = await startWorker(queue, ['-c', '1', '--acks-late']);
    const app = client(queue);
    const r = app.sendTask('sleep', [60_000]);
    await waitRunning(app, r.id);
    const exit = await stopChild(w.proc, { mode: 'cold', graceMs: 30_000 });
    assert.equal(exit.how, 'ipc', w.err());
    assert.equal(exit.signal, null);
    assert.match(w.err(), /shutdown requested over IPC: cold shutdown/);
    await r.refresh();
    assert.equal(r.state, 'PENDING', 'no result: the task did not finish');
  });

  test('a worker whose parent goes away (IPC channel closed) shuts down warm by itself', async () => {
    const queue = uniqueQueue();
    const { w } = await startWorker(queue, ['--pool', 'async', '-c', '2']);
    const app = client(queue);
    const r = app.sendTask('sleep', [1500]);
    await waitRunning(app, r.id);
    w.proc.disconnect();
    const code = await w.exit;
    assert.equal(code, 0, w.err());
    assert.equal(w.proc.signalCode, null);
    assert.match(w.err(), /the parent process went away \(IPC channel closed\): warm shutdown/);
    assert.equal(await r.get({ timeout: 30 }), 1500);
  });
});

describe('embedded broker shutdown without a signal', () => {
  /** `sprig broker` from sources, as a plain child (no IPC), or with an IPC channel as the extension starts it. */
  async function startBroker(dir: string, ipc = false) {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'runtime/src/brokers/embedded/server-main.ts', '--dir', dir], {
      cwd: ROOT,
      stdio: ipc ? ['ignore', 'ignore', 'inherit', 'ipc'] : ['ignore', 'ignore', 'inherit'],
    });
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
    await waitFor(async () => {
      const info = readBrokerInfo(dir);
      return !!info && info.pid === proc.pid && (await probeBroker(info.port, info.token));
    }, 30_000, 'the broker to answer');
    return { proc, exit };
  }

  test('a shutdown request stops it (exit 0, no signal); broker.json is removed and the journal replays every message and result', async () => {
    const dir = tmpDir('sprig-ipc-broker-');
    const queue = uniqueQueue();
    const b1 = await startBroker(dir);
    const c1 = new EmbeddedBroker('sprig://', { projectDir: dir, noAutostart: true });
    await c1.connect();
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) {
      const m = buildTaskMessage({ name: 'add', args: [i, i] });
      sent.push(m.headers.id as string);
      await c1.publish(queue, m);
    }
    const backend = c1.createBackend();
    await backend.store({ task_id: 'ipc-result-1', status: 'SUCCESS', result: 42, traceback: null, children: [], date_done: new Date().toISOString() });
    await backend.close();
    await c1.close();

    const done = await cliResult(['broker', '--stop', '--dir', dir]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /stopped the embedded broker/);
    assert.doesNotMatch(done.stdout, /SIGTERM/);
    assert.deepEqual(await b1.exit, { code: 0, signal: null });
    assert.ok(!fs.existsSync(brokerInfoPath(dir)), 'broker.json removed on a clean exit');
    assert.ok(!fs.existsSync(path.join(dir, '.sprig', 'journal', 'LOCK')), 'journal lock released');

    // A new broker over the same folder: every message and the result are there.
    const b2 = await startBroker(dir);
    const c2 = new EmbeddedBroker('sprig://', { projectDir: dir, noAutostart: true });
    await c2.connect();
    assert.equal(await c2.queueLength(queue), 20);
    const got: string[] = [];
    await new Promise<void>((resolve) => {
      void c2.consume([queue], 50, (d) => {
        got.push(d.message!.headers.id as string);
        c2.ack(d);
        if (got.length === sent.length) resolve();
      });
    });
    assert.deepEqual([...got].sort(), [...sent].sort());
    const meta = await c2.createBackend().get('ipc-result-1');
    assert.equal(meta?.result, 42);
    await c2.close();
    assert.equal(await stopEmbeddedBroker(dir), 'request');
    assert.deepEqual(await b2.exit, { code: 0, signal: null });
    assert.equal(await stopEmbeddedBroker(dir), 'none');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a broker started with an IPC channel stops on the shutdown request over it', async () => {
    const dir = tmpDir('sprig-ipc-broker-');
    const b = await startBroker(dir, true);
    const exit = await stopChild(b.proc, { graceMs: 30_000 });
    assert.deepEqual(exit, { code: 0, signal: null, how: 'ipc' });
    assert.ok(!fs.existsSync(brokerInfoPath(dir)));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

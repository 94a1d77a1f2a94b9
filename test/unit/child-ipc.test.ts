/** The parent/child shutdown protocol (runtime/src/util/child-ipc.ts) with real child processes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { isShutdownRequest, isWorkerReady, stopChild } from '../../runtime/src/util/child-ipc.js';

const ROOT = path.resolve(__dirname, '../..');

function node(code: string, ipc: boolean): ChildProcess {
  return spawn(process.execPath, ['-e', code], { stdio: ipc ? ['ignore', 'ignore', 'inherit', 'ipc'] : ['ignore', 'ignore', 'inherit'] });
}

/** An IPC child sends 'up' once its listener is set; another is waited for until it spawned. */
function up(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => child.once(child.connected ? 'message' : 'spawn', () => resolve()));
}

function fixture(): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/ipc-child.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, out: () => out };
}

test('the message guards accept the protocol and nothing else', () => {
  assert.ok(isShutdownRequest({ type: 'shutdown', mode: 'warm' }));
  assert.ok(isShutdownRequest({ type: 'shutdown', mode: 'cold' }));
  for (const v of [null, 'shutdown', { type: 'shutdown' }, { type: 'shutdown', mode: 'lukewarm' }, { t: 'shutdown', mode: 'warm' }]) assert.ok(!isShutdownRequest(v), JSON.stringify(v));
  const ready = { type: 'ready', hostname: 'w@h', pid: 1, pool: 'process', concurrency: 2, queues: ['celery'], broker: 'sprig://' };
  assert.ok(isWorkerReady(ready));
  assert.ok(!isWorkerReady({ ...ready, pid: '1' }));
  assert.ok(!isWorkerReady({ ...ready, queues: 'celery' }));
  assert.ok(!isWorkerReady({ type: 'ready' }));
});

test('a child that honours the request exits by itself: no signal', async () => {
  const child = node(`process.on('message', (m) => { if (m.type === 'shutdown' && m.mode === 'warm') process.exit(0); }); process.send('up');`, true);
  await up(child);
  assert.deepEqual(await stopChild(child, { graceMs: 30_000 }), { code: 0, signal: null, how: 'ipc' });
  assert.deepEqual(await stopChild(child, { graceMs: 30_000 }), { code: 0, signal: null, how: 'exited' });
});

test('a child that ignores the request is killed after the grace period', async () => {
  const child = node(`process.on('message', () => undefined); process.send('up');`, true);
  await up(child);
  assert.deepEqual(await stopChild(child, { graceMs: 300 }), { code: null, signal: 'SIGKILL', how: 'killed' });
});

test('a child without an IPC channel gets SIGTERM as the last resort', async () => {
  const child = node(`setInterval(() => undefined, 1000);`, false);
  await up(child);
  assert.deepEqual(await stopChild(child, { graceMs: 30_000 }), { code: null, signal: 'SIGTERM', how: 'signal' });
});

test('child side: ready goes to the parent; a shutdown request and the parent going away each reach the handler', async () => {
  const a = fixture();
  const ready = await new Promise<unknown>((resolve) => a.child.once('message', resolve));
  assert.ok(isWorkerReady(ready));
  assert.equal(ready.pid, a.child.pid);
  // The handler stops listening, and with no listener left the channel lets the child end.
  assert.deepEqual(await stopChild(a.child, { mode: 'cold', graceMs: 30_000 }), { code: 0, signal: null, how: 'ipc' });
  assert.equal(a.out(), 'request cold\n');

  const b = fixture();
  await new Promise((resolve) => b.child.once('message', resolve));
  const exited = new Promise<number | null>((resolve) => b.child.once('exit', resolve));
  b.child.disconnect();
  assert.equal(await exited, 0);
  assert.equal(b.out(), 'disconnect warm\n');
});

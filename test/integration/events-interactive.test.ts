/**
 * The interactive `sprig events` in a real terminal: tmux (a pseudo-terminal, 80x24) runs the built
 * CLI, the test types keys with `send-keys` and reads the screen with `capture-pane`. A worker on
 * Redis (process pool, one slot) runs one long task and holds a second one: the test selects the
 * waiting task and revokes it, then selects the running one and terminates it (which frees the
 * slot: the revoked one is dropped, not run), and checks both outcomes in the result backend too.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { App } from '../../runtime/src/index.js';
import { CLI, FIXTURE_TASKS, runCli, uniqueQueue, waitFor, type Spawned } from '../helpers.js';
import { REDIS_URL } from './redis-helpers.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const SOCKET = `sprig-test-${randomUUID().slice(0, 8)}`;
const SESSION = 'events';
const procs: Spawned[] = [];
let app: App | undefined;

const tmux = (...args: string[]) => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', SESSION);
const keys = (...k: string[]) => tmux('send-keys', '-t', SESSION, ...k);

after(async () => {
  if (hasTmux) spawnSync('tmux', ['-L', SOCKET, 'kill-server']);
  for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
  await app?.close();
});

/** Moves the cursor (↑) until the selected line is the task `id`'s. */
async function select(id: string): Promise<void> {
  const short = id.slice(0, 8);
  for (let i = 0; i < 200; i++) {
    const cursor = screen().split('\n').find((l) => l.startsWith('> '));
    if (cursor?.includes(short)) return;
    keys(cursor ? 'Up' : 'Down');
    await new Promise((r) => setTimeout(r, 60));
  }
  throw new Error(`could not select ${short}:\n${screen()}`);
}

test('sprig events in a terminal: select a waiting task and revoke it, the running one and terminate it', { skip: hasTmux ? false : 'tmux is not installed', timeout: 180_000 }, async () => {
  const q = uniqueQueue();
  const host = `events-tty-${q.slice(5, 13)}@test`;
  const worker = runCli(['worker', '--app', FIXTURE_TASKS, '-E', '--broker', REDIS_URL, '-Q', q, '-P', 'process', '-c', '1', '--prefetch-multiplier', '1', '-n', host]);
  procs.push(worker);
  await waitFor(() => worker.err().includes('ready:') || worker.proc.exitCode !== null, 60_000, 'worker ready');
  assert.equal(worker.proc.exitCode, null, worker.err());
  // 80x24, like the terminal the issue names; the CLI sees a TTY on stdin and stdout.
  tmux('new-session', '-d', '-s', SESSION, '-x', '80', '-y', '24', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} events --broker ${REDIS_URL}`);
  await waitFor(() => screen().includes('sprig events'), 30_000, 'the events screen');

  app = new App({ brokerUrl: REDIS_URL, defaultQueue: q });
  app.configure({ sendSentEvent: true });
  const running = app.sendTask('slow', [600_000]);
  await running.sent;
  await waitFor(() => screen().includes(`STARTED  slow`) && screen().includes(running.id.slice(0, 8)), 60_000, `slow[${running.id.slice(0, 8)}] STARTED on the screen`);
  const waiting = app.sendTask('slow', [600_000]);
  await waiting.sent;
  await waitFor(() => new RegExp(`(RECEIVED|PENDING) +slow +${waiting.id.slice(0, 8)}`).test(screen()), 60_000, 'the second task on the screen');

  // Every line fits the 80 columns (tmux would wrap a longer one onto the next row).
  const lines = screen().split('\n');
  assert.ok(lines.every((l) => l.length <= 80), screen());
  // Its first heartbeat (every 2 s) says it is online.
  await waitFor(() => screen().includes(`online  ${host}`), 30_000, 'the worker online in the workers panel');

  // Revoke the waiting one: asked first, then sent; it ends REVOKED without running.
  await select(waiting.id);
  keys('r');
  await waitFor(() => screen().includes(`Revoke slow[${waiting.id.slice(0, 8)}]? y/n`), 10_000, 'the revoke question');
  keys('y');
  await waitFor(() => /revoke slow\[\w{8}\]: sent, 1 worker\(s\) replied/.test(screen()), 20_000, 'the revoke reply');
  // (It is dropped when it would start: once the slot is free.)

  // The running one: its details, then terminate (SIGTERM to its pool child).
  await select(running.id);
  keys('Enter');
  await waitFor(() => screen().includes(`id        ${running.id}`), 10_000, 'the details screen');
  keys('t');
  await waitFor(() => screen().includes(`Terminate (SIGTERM) slow[${running.id.slice(0, 8)}]? y/n`), 10_000, 'the terminate question');
  keys('y');
  await waitFor(() => /REVOKED/.test(screen()), 60_000, 'the terminated task REVOKED in its details');
  keys('Left');
  await waitFor(() => new RegExp(`REVOKED +slow +${running.id.slice(0, 8)}`).test(screen()), 10_000, 'REVOKED in the list');
  // The slot is free: the revoked task is dropped instead of run.
  await waitFor(() => new RegExp(`REVOKED +slow +${waiting.id.slice(0, 8)}`).test(screen()), 60_000, 'the revoked waiting task REVOKED in the list');
  assert.doesNotMatch(screen(), new RegExp(`STARTED +slow +${waiting.id.slice(0, 8)}`));

  // What the backend says, not only the screen.
  const backend = await app.backend();
  const states = await waitFor(async () => {
    const [a, b] = await Promise.all([backend.get(running.id), backend.get(waiting.id)]);
    return a?.status === 'REVOKED' && b?.status === 'REVOKED' ? [a, b] : null;
  }, 30_000, 'both REVOKED in the result backend');
  assert.match(JSON.stringify(states[0]!.result), /terminated/);
  keys('q');
  await waitFor(() => spawnSync('tmux', ['-L', SOCKET, 'has-session', '-t', SESSION]).status !== 0, 10_000, 'sprig events quits on q');
  worker.proc.kill('SIGTERM');
  await worker.exit;
});

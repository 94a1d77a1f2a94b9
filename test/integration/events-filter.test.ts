/** `sprig events --json --filter <query>`: only matching tasks' events, from a real worker over Redis; a bad query says why. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { App } from '../../runtime/src/index.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { cliResult, FIXTURE_TASKS, runCli, waitFor, type Spawned } from '../helpers.js';
import { RedisFixture, REDIS_URL } from './redis-helpers.js';

const fx = new RedisFixture();
const procs: Spawned[] = [];
let app: App | undefined;

after(async () => {
  for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
  await app?.close();
  await fx.cleanup();
});

test('a query that does not parse: exit 2 and what is wrong', async () => {
  const r = await cliResult(['events', '--json', '--filter', 'state:FAILED', '--broker', REDIS_URL]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--filter "state:FAILED": unknown state "FAILED" — use PENDING, RECEIVED, STARTED/);
});

test('--filter: the task events of matching tasks only (state and args), worker events pass', async () => {
  const q = fx.queue();
  const events = runCli(['events', '--json', '--filter', 'name:echo -args:skip', '--broker', REDIS_URL]);
  procs.push(events);
  await new Promise((r) => setTimeout(r, 700));
  const host = `filter-test@${q}`;
  const worker = runCli(['worker', '--app', FIXTURE_TASKS, '-E', '--broker', REDIS_URL, '-Q', q, '-P', 'async', '-n', host]);
  procs.push(worker);
  await waitFor(() => worker.err().includes('ready:') || worker.proc.exitCode !== null, 30_000, 'worker ready');
  app = new App({ brokerUrl: REDIS_URL, defaultQueue: q });
  const add = app.sendTask('add', [2, 3]);
  const skipped = app.sendTask('echo', ['skip me']);
  const kept = app.sendTask('echo', ['keep me']);
  await Promise.all([add.get({ timeout: 30 }), skipped.get({ timeout: 30 }), kept.get({ timeout: 30 })]);
  const lines = () =>
    events
      .out()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as SprigEvent)
      .filter((e) => e.hostname === host);
  await waitFor(() => lines().some((e) => e.type === 'task-succeeded' && e.uuid === kept.id), 30_000, 'the kept task succeeded');
  const ids = new Set(lines().flatMap((e) => ('uuid' in e ? [e.uuid] : [])));
  assert.deepEqual([...ids], [kept.id]);
  assert.ok(lines().some((e) => e.type === 'worker-online' || e.type === 'worker-heartbeat'), 'worker events pass');
});

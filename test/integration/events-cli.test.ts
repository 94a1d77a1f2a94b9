/** `sprig events --json` / `--dump` receiving a real worker's events over Redis (built CLI). */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from '../../runtime/src/index.js';
import { LiveView, dumpLine } from '../../runtime/src/cli/events-command.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { FIXTURE_TASKS, ROOT, runCli, waitFor, type Spawned } from '../helpers.js';
import { RedisFixture, REDIS_URL } from './redis-helpers.js';

const fx = new RedisFixture();
const procs: Spawned[] = [];
let app: App;

before(() => {
  try {
    execSync('npm run build --silent', { cwd: ROOT, stdio: 'ignore' });
  } catch {
    // Another target (extension, webview) may be mid-edit; the runtime bundle is what we need.
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'runtime', 'index.js')), 'npm run build failed and there is no runtime bundle');
  }
});

after(async () => {
  for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
  await app?.close();
  await fx.cleanup();
});

function parseLines(out: string): SprigEvent[] {
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as SprigEvent);
}

test('events --json prints a real worker\'s events, one JSON object per line', async () => {
  const q = fx.queue();
  const events = runCli(['events', '--json', '--broker', REDIS_URL]);
  const dump = runCli(['events', '--dump', '--broker', REDIS_URL]);
  procs.push(events, dump);
  await new Promise((r) => setTimeout(r, 700)); // subscribed before the worker comes up
  const worker = runCli(['worker', '--app', FIXTURE_TASKS, '-E', '--broker', REDIS_URL, '-Q', q, '-P', 'async', '-n', `events-test@${q}`]);
  procs.push(worker);
  await waitFor(() => worker.err().includes('ready:') || worker.proc.exitCode !== null, 20_000, 'worker ready');
  app = new App({ brokerUrl: REDIS_URL, defaultQueue: q });
  const r = app.sendTask('add', [2, 3]);
  assert.equal(await r.get({ timeout: 30 }), 5);
  const mine = await waitFor(() => {
    const evs = parseLines(events.out()).filter((e) => e.hostname === `events-test@${q}`);
    return evs.some((e) => e.type === 'task-succeeded' && e.uuid === r.id) ? evs : null;
  }, 10_000, 'task-succeeded in events --json');
  const types = mine.map((e) => e.type);
  assert.ok(types.includes('worker-online'), types.join(','));
  const task = mine.filter((e) => 'uuid' in e && e.uuid === r.id).map((e) => e.type);
  assert.deepEqual(task, ['task-received', 'task-started', 'task-succeeded']);
  for (const e of mine) for (const k of ['hostname', 'pid', 'clock', 'timestamp', 'utcoffset', 'local_received']) assert.ok(k in e, k);

  await waitFor(() => dump.out().includes(`task succeeded: add[${r.id}]`), 5000, 'dump line (the task named though task-succeeded carries no name)');
  assert.match(dump.out(), new RegExp(`events-test@${q} \\[\\d{4}-\\d\\d-\\d\\d [\\d:.]+\\] task received: add\\[${r.id}\\] \\(2, 3\\)`));

  worker.proc.kill('SIGTERM');
  await worker.exit;
  await waitFor(() => parseLines(events.out()).some((e) => e.type === 'worker-offline' && e.hostname === `events-test@${q}`), 10_000, 'worker-offline');
  events.proc.kill('SIGINT');
  dump.proc.kill('SIGTERM');
  assert.equal(await events.exit, 0, events.err());
  assert.equal(await dump.exit, 0, dump.err());
});

test('the live view: workers online/offline with heartbeat age, counts by state, a tail', () => {
  const base = { pid: 1, clock: 1, utcoffset: 0 };
  const status = { freq: 2, active: 0, processed: 0, loadavg: [0.1], sw_ident: 'sprig', sw_ver: '0', sw_sys: 'Linux' };
  const v = new LiveView('redis://x');
  const t = 1_000_000;
  v.add({ ...base, ...status, type: 'worker-online', hostname: 'w1', timestamp: t, local_received: t } as SprigEvent);
  v.add({ ...base, ...status, type: 'worker-online', hostname: 'w2', timestamp: t, local_received: t } as SprigEvent);
  v.add({ ...base, ...status, type: 'worker-offline', hostname: 'w2', timestamp: t + 1, local_received: t + 1 } as SprigEvent);
  v.add({ ...base, type: 'task-received', hostname: 'w1', timestamp: t, uuid: 'u1', name: 'add', args: '(1, 2)', kwargs: '{}', retries: 0, eta: null, expires: null, root_id: null, parent_id: null } as SprigEvent);
  v.add({ ...base, type: 'task-succeeded', hostname: 'w1', timestamp: t + 0.5, uuid: 'u1', result: '3', runtime: 0.01 } as SprigEvent);
  v.add({ ...base, type: 'task-failed', hostname: 'w1', timestamp: t + 0.6, uuid: 'u2', exception: 'RangeError(x)', traceback: '' } as SprigEvent);
  // eslint-disable-next-line no-control-regex
  const text = v.frame(120, 30, t + 1.5).join('\n').replace(/\x1b\[[0-9;]*m/g, '');
  assert.match(text, /online\s+w1\s+active 0\s+processed 0\s+heartbeat 1\.5s ago/);
  assert.match(text, /offline w2/);
  assert.match(text, /SUCCESS 1/);
  assert.match(text, /FAILURE 1/);
  assert.match(text, /succeeded add\[u1\] in 0\.0100s: 3 w1/);
  assert.ok(v.frame(40, 12, t).every((l) => l.replace(/\x1b\[[0-9;]*m/g, '').length <= 40)); // eslint-disable-line no-control-regex
  assert.equal(dumpLine({ ...base, type: 'task-started', hostname: 'w1', timestamp: 0, uuid: 'u1' } as SprigEvent), 'w1 [1970-01-01 00:00:00.000] task started: [u1]');
  assert.equal(dumpLine({ ...base, type: 'task-started', hostname: 'w1', timestamp: 0, uuid: 'u1' } as SprigEvent, () => 'add'), 'w1 [1970-01-01 00:00:00.000] task started: add[u1]');
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Redis from 'ioredis';
import { cliResult, runCli, tmpDir, uniqueQueue, waitFor, type Spawned } from '../helpers.js';

const REDIS = 'redis://127.0.0.1:6379/0';
const queue = uniqueQueue();
let worker: Spawned;
let dir: string;

before(async () => {
  // A tasks file in a folder with no node_modules, importing from 'sprig-queue'.
  dir = tmpDir('sprig-nomods-');
  fs.writeFileSync(
    path.join(dir, 'tasks.ts'),
    [
      "import { task } from 'sprig-queue';",
      "import { double } from './lib';",
      'export const add = task(\'add\', (a: number, b: number): number => a + b);',
      "export const twice = task('twice', (x: number) => double(x));",
      "export const fail = task('fail', () => { throw new Error('from the temp folder'); });",
      "export const slow = task('slow', (ms: number) => new Promise((r) => setTimeout(() => r(ms), ms)));",
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'lib.ts'), 'export const double = (x: number): number => x * 2;\n');
  assert.equal(fs.existsSync(path.join(dir, 'node_modules')), false);
  worker = runCli(['worker', '--app', path.join(dir, 'tasks.ts'), '--broker', REDIS, '-Q', queue, '-c', '2']);
  await waitFor(() => worker.err().includes('ready:') || worker.proc.exitCode !== null, 20_000, 'worker ready');
  assert.equal(worker.proc.exitCode, null, worker.err());
});

after(async () => {
  worker.proc.kill('SIGTERM');
  await worker.exit;
  const r = new Redis(REDIS);
  const keys = await r.keys(`${queue}*`);
  if (keys.length) await r.del(...keys);
  await r.del(`_kombu.binding.${queue}`);
  r.disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a tasks file in a temp folder with no node_modules runs under `sprig worker --app`', async () => {
  const r = await cliResult(['call', 'add', '--args', '[2, 3]', '--broker', REDIS, '-Q', queue, '--wait', '--timeout', '15']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '5');
  const t = await cliResult(['call', 'twice', '--args', '[21]', '--broker', REDIS, '-Q', queue, '--wait', '--timeout', '15']);
  assert.equal(t.stdout.trim(), '42');
});

test('`sprig call` without --wait prints the task id; `sprig result` reads it', async () => {
  const r = await cliResult(['call', 'add', '--args', '[1, 1]', '--broker', REDIS, '-Q', queue]);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  assert.match(id, /^[0-9a-f-]{36}$/);
  const res = await cliResult(['result', id, '--wait', '--timeout', '15', '--broker', REDIS]);
  assert.equal(JSON.parse(res.stdout).result, 2);
});

test('a failed task: the error once on stderr, then its frames from the task (named after it) with file and line; exit 1', async () => {
  const r = await cliResult(['call', 'fail', '--broker', REDIS, '-Q', queue, '--wait', '--timeout', '15']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.split('\n').filter((l) => l.includes('Error: from the temp folder')).length, 1, r.stderr);
  assert.match(r.stderr, /^sprig: Error: from the temp folder$/m);
  assert.match(r.stderr, /^ {4}at fail \(.*tasks\.ts:5:\d+\)$/m);
  assert.doesNotMatch(r.stderr, /Object\.fn|callTask|executeTask|node:internal/, r.stderr);
  // --verbose: the stored traceback as it is.
  const v = await cliResult(['call', 'fail', '--broker', REDIS, '-Q', queue, '--wait', '--timeout', '15', '--verbose']);
  assert.equal(v.code, 1);
  assert.match(v.stderr, /^ {4}at fail \(.*tasks\.ts:5:\d+\)$/m);
  // The worker stores the user's frames only (worker/trace.ts, isRuntimeFrame), wherever the runtime
  // is installed; --verbose shows what was stored as it is (a Celery worker's traceback unfiltered).
  assert.doesNotMatch(v.stderr, /executeTask|callTask|runtime[/\\]dist[/\\]/, v.stderr);
});

test('bad JSON: one clear line, non-zero exit', async () => {
  const r = await cliResult(['call', 'add', '--args', '[2,', '--broker', REDIS]);
  assert.equal(r.code, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /--args is not valid JSON.*example: --args '\[2, 3\]'/);
});

test('an unknown task: NotRegistered at once, exit 1', async () => {
  const t0 = Date.now();
  const r = await cliResult(['call', 'nosuch', '--broker', REDIS, '-Q', queue, '--wait', '--timeout', '20']);
  assert.equal(r.code, 1);
  assert.ok(Date.now() - t0 < 10_000);
  assert.match(r.stderr.trim().split('\n').pop()!, /NotRegistered: task "nosuch" is not registered \(registered: add, fail, slow, twice\)/);
});

test('an unreachable broker: one clear line, non-zero exit', async () => {
  const r = await cliResult(['call', 'add', '--args', '[1, 2]', '--broker', 'redis://127.0.0.1:6390/0', '--wait']);
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /cannot connect to Redis at 127\.0\.0\.1:6390.*is redis-server running/);
});

test('bad flags and settings say what is wrong and what would be right', async () => {
  const c = await cliResult(['worker', '--app', 'runtime/examples/tasks.ts', '-c', 'abc']);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /--concurrency expects a positive integer, got "abc"/);
  const p = await cliResult(['worker', '--app', 'runtime/examples/tasks.ts', '--pool', 'fork']);
  assert.match(p.stderr, /--pool must be one of process, thread, async, got "fork"/);
  const a = await cliResult(['worker', '--app', 'nope.ts']);
  assert.match(a.stderr, /--app nope\.ts: no such file/);
  const b = await cliResult(['call', 'add', '--broker', 'kafka://x']);
  assert.match(b.stderr, /unknown broker scheme "kafka:\/\/".*supported: /);
});

test('a syntax error in the tasks file points at the file and line', async () => {
  const bad = path.join(dir, 'bad.ts');
  fs.writeFileSync(bad, "import { task } from 'sprig';\nexport const x = task('x', () => {\n  return 1 +;\n});\n");
  const r = await cliResult(['worker', '--app', bad, '--broker', REDIS, '-Q', queue]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /bad\.ts:3:\d+: /);
});

test('`sprig purge` asks first; with no terminal it refuses and names --force; -f purges', async () => {
  const q = uniqueQueue();
  try {
    for (const a of ['[1, 1]', '[2, 2]']) assert.equal((await cliResult(['call', 'add', '--args', a, '--broker', REDIS, '-Q', q])).code, 0);
    // cliResult gives the child no terminal on stdin (a script, CI): no question that would hang.
    const refused = await cliResult(['purge', '-Q', q, '--broker', REDIS]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /2 waiting message\(s\) from test-.*-f\/--force/);
    assert.equal(refused.stdout, '');
    const r = new Redis(REDIS);
    try {
      assert.equal(await r.llen(q), 2, 'the refused purge deleted messages');
    } finally {
      r.disconnect();
    }
    const forced = await cliResult(['purge', '-Q', q, '--force', '--broker', REDIS]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.stdout.trim(), `purged 2 message(s) from ${q}`);
  } finally {
    const r = new Redis(REDIS);
    await r.del(q, `_kombu.binding.${q}`);
    r.disconnect();
  }
});

test('`sprig call --wait` on a queue no worker consumes says so after a few seconds, and goes on waiting', async () => {
  const q = uniqueQueue();
  const s = runCli(['call', 'add', '--args', '[1, 2]', '--broker', REDIS, '-Q', q, '--wait', '--timeout', '600']);
  try {
    await waitFor(() => s.err().includes('no worker consumes') || s.proc.exitCode !== null, 60_000, 'the hint');
    assert.equal(s.proc.exitCode, null, `it stopped waiting: ${s.err()}`);
    // The worker of this file answers, on its own queue.
    assert.match(s.err(), new RegExp(`no worker consumes queue "${q}" on redis://127\\.0\\.0\\.1:6379/0 \\(workers that answered: .*@.* on ${queue}`));
    assert.equal(s.out(), '');
  } finally {
    s.proc.kill();
    await s.exit;
    const r = new Redis(REDIS);
    await r.del(q, `_kombu.binding.${q}`);
    r.disconnect();
  }
});

test('`sprig call` of a task no worker that answers knows: said on stderr, exit 1 (the id is still printed)', async () => {
  const r = await cliResult(['call', 'nosuch', '--broker', REDIS, '-Q', queue]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout.trim(), /^[0-9a-f-]{36}$/);
  assert.match(r.stderr, /no worker that answered knows a task named "nosuch" \(.*@.* on queue test-.*; registered: add, fail, slow, twice\)/);
  // A task the worker knows: no word, exit 0.
  const ok = await cliResult(['call', 'add', '--args', '[1, 1]', '--broker', REDIS, '-Q', queue]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stderr, '');
});

test('two tasks under one name: the worker warns at start with both file:line', async () => {
  fs.writeFileSync(path.join(dir, 'dup.ts'), ["import { task } from 'sprig-queue';", "import './dup-more';", '', "export const add = task('add', (a: number, b: number) => a + b);"].join('\n'));
  fs.writeFileSync(path.join(dir, 'dup-more.ts'), ["import { task } from 'sprig-queue';", "export const add = task('add', (a: number) => a * 2);"].join('\n'));
  const w = runCli(['worker', '--app', path.join(dir, 'dup.ts'), '--broker', REDIS, '-Q', uniqueQueue(), '-c', '1', '-P', 'async']);
  try {
    await waitFor(() => /defined twice/.test(w.err()) || w.proc.exitCode !== null, 20_000, 'the warning');
    assert.match(w.err(), /WARN.*task "add" is defined twice: at \S*dup-more\.ts:2:\d+ and at \S*dup\.ts:4:\d+; the second definition is the one that runs/);
  } finally {
    w.proc.kill('SIGTERM');
    await w.exit;
  }
});

test('two tasks under one name after an autoreload: the worker warns then too, with both file:line', async () => {
  const file = path.join(dir, 'reload-dup.ts');
  fs.writeFileSync(file, ["import { task } from 'sprig-queue';", "export const mul = task('mul', (a: number, b: number) => a * b);"].join('\n'));
  const w = runCli(['worker', '--app', file, '--autoreload', '--broker', REDIS, '-Q', uniqueQueue(), '-c', '1', '-P', 'async']);
  try {
    await waitFor(() => /autoreload: watching/.test(w.err()) || w.proc.exitCode !== null, 30_000, 'the worker watching its file');
    assert.doesNotMatch(w.err(), /defined twice/);
    // The watcher may still be settling on a busy machine: save again until a reload comes.
    const dup = ["import { task } from 'sprig-queue';", "export const mul = task('mul', (a: number, b: number) => a * b);", '', "export const mul2 = task('mul', (a: number) => a * 2);"];
    for (let i = 0; !/defined twice/.test(w.err()) && w.proc.exitCode === null && i < 4; i++) {
      fs.writeFileSync(file, [...dup, `// save ${i}`].join('\n'));
      await waitFor(() => /defined twice/.test(w.err()) || w.proc.exitCode !== null, 10_000, 'the warning after the reload').catch(() => undefined);
    }
    assert.match(w.err(), /defined twice/);
    assert.match(w.err(), /autoreload: loaded new code[^\n]*\n[^\n]*WARN.*task "mul" is defined twice: at \S*reload-dup\.ts:2:\d+ and at \S*reload-dup\.ts:4:\d+; the second definition is the one that runs/);
    // Saved again with the duplicate still there: said again, once per reload.
    const count = (re: RegExp) => w.err().match(re)?.length ?? 0;
    const reloads = count(/autoreload: loaded new code/g);
    fs.appendFileSync(file, '\n// touched\n');
    await waitFor(() => count(/autoreload: loaded new code/g) > reloads || w.proc.exitCode !== null, 30_000, 'the next reload');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(count(/defined twice/g), count(/autoreload: loaded new code/g), w.err());
  } finally {
    w.proc.kill('SIGTERM');
    await w.exit;
  }
});

test('a running task: `sprig call --wait` says STARTED (and where) while it waits, `sprig result` says STARTED, not PENDING', async () => {
  const w = runCli(['call', 'slow', '--args', '[600000]', '--broker', REDIS, '-Q', queue, '--wait']);
  let id = '';
  try {
    // This file's worker sends no events (no -E): the state comes from asking it.
    await waitFor(() => / STARTED on \S+@/.test(w.err()) || w.proc.exitCode !== null, 60_000, 'the progress line');
    assert.equal(w.proc.exitCode, null, w.err());
    id = w.err().split('\n')[0]!.trim();
    assert.match(w.err(), new RegExp(`^sprig: ${id.slice(0, 8)} STARTED on sprig\\d+@`, 'm'));
    const r = await cliResult(['result', id, '--broker', REDIS]);
    assert.equal(r.code, 0, r.stderr);
    const meta = JSON.parse(r.stdout) as { status: string; worker?: string; task_id: string };
    assert.equal(meta.status, 'STARTED');
    assert.equal(meta.task_id, id);
    assert.match(meta.worker ?? '', /^sprig\d+@/);
  } finally {
    w.proc.kill();
    await w.exit;
    if (id) await cliResult(['control', 'revoke', id, 'terminate=1', '--broker', REDIS]);
  }
});

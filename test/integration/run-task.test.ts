// `sprig run-task`: one task in this process as a worker runs it (what Debug Task launches under
// the debugger): ctx as on a worker, the outcome printed, exit codes, limits, bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cliResult, tmpDir } from '../helpers.js';

const dir = tmpDir('sprig-run-task-');
fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "run-task-test", "private": true }\n');
fs.writeFileSync(
  path.join(dir, 'tasks.ts'),
  `import { task } from 'sprig-queue';
export const ctxOf = task('ctx_of', (ctx, x: number, opts?: { y?: number }) => ({ x, y: opts?.y ?? null, id: ctx.id, retries: ctx.retries, queue: ctx.queue, aborted: ctx.signal.aborted }), { bind: true });
export const bad = task('bad', (msg: string) => {
  throw new RangeError(msg);
});
export const waits = task('waits', (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(String(ctx.signal.reason)))), { bind: true });
export const forever = task('forever', () => new Promise(() => undefined));
`,
);
const run = (args: string[]) => cliResult(['run-task', ...args], { cwd: dir, timeoutMs: 60_000 });

test('run-task runs the task with the ctx a worker gives (id, retries, queue, signal) and prints the outcome', async () => {
  const r = await run(['ctx_of', '--app', 'tasks.ts', '--args', '[21]', '--kwargs', '{"y": 2}', '--id', 'the-id', '--retries', '2', '-Q', 'q1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { state: string; result: unknown; id: string };
  assert.equal(out.state, 'SUCCESS');
  assert.equal(out.id, 'the-id');
  assert.deepEqual(out.result, { x: 21, y: 2, id: 'the-id', retries: 2, queue: 'q1', aborted: false });
});

test('a failing task exits 1 with its traceback on the .ts line; an unknown task exits 2 naming the ones there are', async () => {
  const f = await run(['bad', '--app', 'tasks.ts', '--args', '["no"]']);
  assert.equal(f.code, 1);
  assert.match(f.stderr, /bad\[[0-9a-f-]+\] failed: RangeError\("no"\)/);
  assert.match(f.stderr, new RegExp(`${path.join(dir, 'tasks.ts').replace(/[\\/.]/g, '\\$&')}:4:`));
  const u = await run(['nope', '--app', 'tasks.ts']);
  assert.equal(u.code, 2);
  assert.match(u.stderr, /defines no task "nope"; it defines: bad, ctx_of, forever, waits/);
});

test('the soft time limit aborts ctx.signal; the hard one ends the run with TimeLimitExceeded', async () => {
  const s = await run(['waits', '--app', 'tasks.ts', '--soft-time-limit', '0.2', '--json']);
  assert.equal(s.code, 0, s.stderr);
  assert.match(String((JSON.parse(s.stdout) as { result: unknown }).result), /SoftTimeLimitExceeded/);
  const h = await run(['forever', '--app', 'tasks.ts', '--time-limit', '0.3', '--json']);
  assert.equal(h.code, 1);
  const out = JSON.parse(h.stdout) as { state: string; exc: { exc_type: string } };
  assert.equal(out.state, 'FAILURE');
  assert.equal(out.exc.exc_type, 'TimeLimitExceeded');
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * The minified production build (what the VSIX ships) stores Sprig's error classes under their real
 * names: a minifier that renames classes would make results say `exc_type: "bs"`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT, stopEmbeddedBroker, tmpDir, waitFor } from '../helpers.js';

test('a production (minified) build keeps exception class names in results', async (t) => {
  // Inside the repo, so the bundle's one external (esbuild) resolves from its node_modules.
  const out = path.join(ROOT, 'test', '.tmp', `prod-${randomUUID()}`);
  const project = tmpDir('sprig-prod-');
  fs.writeFileSync(path.join(project, 'package.json'), '{"name":"prod-test","private":true}');
  const tasks = path.join(project, 'tasks.ts');
  fs.writeFileSync(
    tasks,
    `import { task } from 'sprig-queue';
export const slow = task('slow', (ms: number) => new Promise((r) => setTimeout(() => r(ms), ms)));
export const crash = task('crash', () => process.kill(process.pid, 'SIGKILL'));
`,
  );
  t.after(() => {
    stopEmbeddedBroker(project);
    fs.rmSync(out, { recursive: true, force: true });
    fs.rmSync(project, { recursive: true, force: true });
  });
  const build = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs'), '--production', '--out', out], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  const cli = path.join(out, 'dist', 'runtime', 'cli.js');
  const bundle = fs.readFileSync(path.join(out, 'dist', 'runtime', 'index.js'), 'utf8');
  assert.ok(bundle.length / bundle.split('\n').length > 1000, 'the production bundle is minified (long lines)');
  assert.ok(!bundle.includes('function makeRetry('), 'local names are mangled');

  const env = { ...process.env, SPRIG_PROJECT_DIR: project, SPRIG_BROKER_URL: 'sprig://', SPRIG_LOG_LEVEL: 'info' };
  const worker = spawn(process.execPath, [cli, 'worker', '--app', tasks, '-c', '1', '-P', 'process', '--time-limit', '1'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => void (worker.exitCode === null && worker.kill('SIGKILL')));
  let log = '';
  worker.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  worker.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  await waitFor(() => / ready: /.test(log) || worker.exitCode !== null, 60_000, 'the minified worker to be ready');
  assert.equal(worker.exitCode, null, log);

  const cliJson = (args: string[]) => {
    const r = spawnSync(process.execPath, [cli, ...args], { cwd: project, env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const expectFailure = (taskArgs: string[], excType: string) => {
    const id = cliJson(['call', ...taskArgs]);
    const meta = JSON.parse(cliJson(['result', id, '--wait', '--timeout', '45'])) as { status: string; result: { exc_type: string } };
    assert.equal(meta.status, 'FAILURE');
    assert.equal(meta.result.exc_type, excType);
  };
  expectFailure(['slow', '--args', '[20000]'], 'TimeLimitExceeded');
  expectFailure(['crash'], 'WorkerLostError');
  // --no-check: sent anyway, for its stored result (`sprig call` says no worker knows it, exit 1).
  expectFailure(['nosuch', '--no-check'], 'NotRegistered');
});

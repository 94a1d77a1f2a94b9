/**
 * Sprig in a user's own project: `npm pack` the runtime, install the tarball into a fresh project
 * outside the repository (no other node_modules), and there use it as a user would: a CommonJS and an
 * ESM script enqueue and read results on the embedded default broker, `tsc --strict` checks a typed
 * tasks file and client (and rejects wrong argument types), and `npx sprig worker` runs the tasks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, stopEmbeddedBroker, waitFor } from '../helpers.js';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'package');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** The environment of a user's shell: none of this repository's test settings. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SPRIG_') && !k.startsWith('npm_')) env[k] = v;
  return { ...env, SPRIG_LOG_LEVEL: 'info' };
}

function run(cmd: string, args: string[], cwd: string, timeout = 120_000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: userEnv(), encoding: 'utf8', timeout });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('npm pack: compiled JS, .d.ts and the CLI; no sources (examples included), tests or extension code', () => {
  const out = ok(run(NPM, ['pack', '--dry-run', '--json', '--ignore-scripts'], path.join(ROOT, 'runtime')), 'npm pack --dry-run');
  const [info] = JSON.parse(out) as Array<{ name: string; files: Array<{ path: string }> }>;
  const files = info!.files.map((f) => f.path);
  assert.equal(info!.name, 'sprig-queue');
  for (const must of ['package.json', 'README.md', 'bin/sprig.js', 'dist/index.js', 'dist/pool-child.js', 'dist/cli.js', 'dist/types/index.d.ts']) {
    assert.ok(files.includes(must), `the package lacks ${must}`);
  }
  const foreign = files.filter(
    (f) => (f.endsWith('.ts') && !f.endsWith('.d.ts')) || /^(src|test|bench|extension|webview-ui)\//.test(f) || f.endsWith('.map'),
  );
  assert.deepEqual(foreign, [], 'sources, tests or maps in the package');
  const pj = JSON.parse(fs.readFileSync(path.join(ROOT, 'runtime', 'package.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  assert.ok(!('vscode' in (pj.dependencies ?? {})) && !('bullmq' in (pj.dependencies ?? {})), 'only the runtime’s own dependencies');
  assert.deepEqual(Object.keys(pj.exports!).sort(), ['.', './package.json']);
});

test('installed from its tarball into a fresh project: CJS + ESM clients, tsc --strict, npx sprig worker', async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sprig-pack-'));
  const project = path.join(work, 'app');
  fs.mkdirSync(project);
  // Nothing above the project may lend it a node_modules: the test would prove nothing.
  for (let d = path.dirname(project); d !== path.dirname(d); d = path.dirname(d)) {
    assert.ok(!fs.existsSync(path.join(d, 'node_modules')), `${d} has a node_modules`);
  }
  let worker: ReturnType<typeof spawn> | undefined;
  t.after(() => {
    if (worker?.pid && worker.exitCode === null) {
      try {
        process.kill(-worker.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    stopEmbeddedBroker(project);
    fs.rmSync(work, { recursive: true, force: true });
  });

  const packed = ok(run(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], path.join(ROOT, 'runtime')), 'npm pack');
  const tarball = path.join(work, (JSON.parse(packed) as Array<{ filename: string }>)[0]!.filename);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'my-app', private: true, version: '1.0.0' }, null, 2));
  // What a TypeScript user's project has beside Sprig: Node's types (typescript itself is the repo's).
  ok(run(NPM, ['install', tarball, '@types/node@20', '--no-audit', '--no-fund', '--prefer-offline'], project, 300_000), 'npm install');
  assert.ok(fs.existsSync(path.join(project, 'node_modules', 'sprig-queue', 'dist', 'index.js')));
  assert.ok(!fs.existsSync(path.join(project, 'node_modules', 'sprig-queue', 'src')), 'sources installed');
  for (const f of ['tasks.ts', 'client.ts', 'sprig.config.ts']) fs.copyFileSync(path.join(FIXTURES, f), path.join(project, f));

  await t.test('tsc --strict passes on the typed tasks file and client; wrong argument types are errors', () => {
    const tsconfig = { compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: ['node'] }, include: ['*.ts'] };
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    const r = run(process.execPath, [TSC, '-p', '.'], project);
    assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
    // Proof that the @ts-expect-error lines are errors: without them, tsc reports each one.
    const client = fs.readFileSync(path.join(project, 'client.ts'), 'utf8');
    const expected = client.split('\n').filter((l) => /^\s*\/\/ @ts-expect-error/.test(l)).length;
    fs.writeFileSync(path.join(project, 'client.ts'), client.replace(/^\s*\/\/ @ts-expect-error.*\n/gm, ''));
    const bad = run(process.execPath, [TSC, '-p', '.'], project);
    fs.writeFileSync(path.join(project, 'client.ts'), client);
    const errors = bad.stdout.split('\n').filter((l) => l.startsWith('client.ts('));
    assert.equal(errors.length, expected, `expected ${expected} type errors in client.ts, got:\n${bad.stdout}`);
    assert.match(bad.stdout, /TS2345: Argument of type 'string' is not assignable to parameter of type 'number'/);
  });

  await t.test('npx sprig worker --app tasks.ts runs from the installed package', async () => {
    worker = spawn(NPM === 'npm' ? 'npx' : 'npx.cmd', ['--no-install', 'sprig', 'worker', '--app', 'tasks.ts', '-c', '2', '-P', 'process', '-n', `pack-${process.pid}@localhost`], {
      cwd: project,
      env: userEnv(),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    worker.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    worker.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    await waitFor(() => / ready: /.test(log) || worker!.exitCode !== null, 60_000, 'the worker to be ready');
    assert.equal(worker.exitCode, null, `the worker exited:\n${log}`);
    assert.match(log, /add/, 'the worker lists the tasks of tasks.ts');
  });

  await t.test('a CommonJS script and an ESM script enqueue and read results on the embedded broker', () => {
    fs.writeFileSync(
      path.join(project, 'client.cjs'),
      `const { sendTask, defaultApp } = require('sprig-queue');
(async () => {
  const sum = await sendTask('add', [2, 3]).get({ timeout: 30 });
  const hello = await sendTask('greet', ['cjs']).get({ timeout: 30 });
  console.log(JSON.stringify({ sum, hello }));
  await defaultApp().close();
})().catch((err) => { console.error(err); process.exit(1); });
`,
    );
    fs.writeFileSync(
      path.join(project, 'client.mjs'),
      `import { sendTask, defaultApp, VERSION } from 'sprig-queue';
const sum = await sendTask('add', [40, 2]).get({ timeout: 30 });
const hello = await sendTask('greet', ['esm']).get({ timeout: 30 });
console.log(JSON.stringify({ sum, hello, version: VERSION }));
await defaultApp().close();
`,
    );
    const cjs = JSON.parse(ok(run(process.execPath, ['client.cjs'], project, 60_000), 'node client.cjs').trim().split('\n').pop()!) as Record<string, unknown>;
    assert.deepEqual(cjs, { sum: 5, hello: 'hi cjs from greet (try 1)' });
    const esm = JSON.parse(ok(run(process.execPath, ['client.mjs'], project, 60_000), 'node client.mjs').trim().split('\n').pop()!) as Record<string, unknown>;
    assert.deepEqual(esm, { sum: 42, hello: 'hi esm from greet (try 1)', version: '0.1.0' });
    assert.ok(fs.existsSync(path.join(project, '.sprig')), 'the embedded broker keeps its data in the project');
  });

  await t.test("the README's plain Node HTTP server enqueues from a request handler", async () => {
    fs.writeFileSync(
      path.join(project, 'server.mjs'),
      `import { createServer } from 'node:http';
import { sendTask, defaultApp } from 'sprig-queue';
const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const r = sendTask('add', [Number(url.searchParams.get('a')), Number(url.searchParams.get('b'))]);
  await r.sent;
  const sum = await r.get({ timeout: 30 });
  res.setHeader('content-type', 'application/json').end(JSON.stringify({ id: r.id, sum }));
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
process.on('message', async () => { server.close(); await defaultApp().close(); process.exit(0); });
`,
    );
    const srv = spawn(process.execPath, ['server.mjs'], { cwd: project, env: userEnv(), stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    try {
      let out = '';
      srv.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      const port = Number(await waitFor(() => /^\d+\n/.exec(out)?.[0], 30_000, 'the server to listen'));
      const body = (await (await fetch(`http://127.0.0.1:${port}/?a=20&b=22`)).json()) as { id: string; sum: number };
      assert.equal(body.sum, 42);
      assert.match(body.id, /^[0-9a-f-]{36}$/);
    } finally {
      srv.send('stop');
      await new Promise((r) => (srv.exitCode !== null ? r(null) : srv.once('exit', r)));
    }
  });
});

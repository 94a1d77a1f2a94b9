// `npm test`: every suite, in order, failing fast on none so the summary shows all of them.
// Suites: unit + integration (node:test, real Redis/RabbitMQ), then any `test/*/run.mjs` suite
// runner (extension host, UI, faults, HA engines, interop) that exists.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.slice(2);
const suites = [];

const nodeTests = (dir) =>
  fs.existsSync(path.join(root, 'test', dir))
    ? fs.readdirSync(path.join(root, 'test', dir)).filter((f) => f.endsWith('.test.ts')).sort().map((f) => `test/${dir}/${f}`)
    : [];
// --test-force-exit: a file whose tests are done must not hang CI on a stray handle;
// --test-timeout: a stuck test fails (after 3 minutes) instead of running into CI's limit.
const nodeTest = ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-force-exit', '--test-timeout=180000', '--test-reporter=spec'];
suites.push({ name: 'unit', cmd: process.execPath, args: [...nodeTest, ...nodeTests('unit')] });
suites.push({ name: 'integration', cmd: process.execPath, args: [...nodeTest, ...nodeTests('integration')] });
for (const dir of ['faults', 'ha', 'interop', 'extension']) {
  const runner = path.join(root, 'test', dir, 'run.mjs');
  if (fs.existsSync(runner)) suites.push({ name: dir, cmd: process.execPath, args: [runner] });
}

const results = [];
for (const s of suites) {
  if (only.length && !only.includes(s.name)) continue;
  if (s.args.length && s.args[s.args.length - 1].startsWith('--test-reporter')) continue;
  console.log(`\n=== ${s.name} ===`);
  const t0 = Date.now();
  const r = spawnSync(s.cmd, s.args, { cwd: root, stdio: 'inherit', env: { ...process.env, SPRIG_LOG_LEVEL: process.env.SPRIG_LOG_LEVEL ?? 'warn' } });
  results.push({ name: s.name, ok: r.status === 0, secs: ((Date.now() - t0) / 1000).toFixed(1) });
}
console.log('\n=== summary ===');
for (const r of results) console.log(`${r.ok ? 'PASS' : 'FAIL'}  ${r.name.padEnd(12)} ${r.secs}s`);
process.exit(results.every((r) => r.ok) ? 0 : 1);

// Interop suite (part of `npm test`): Sprig against the real Python Celery 5.2 from Debian.
// 1. Make sure Debian's python3-celery, -redis, -msgpack and -yaml are installed (apt-get update once, then
//    install); when that fails the suite FAILS with the reason, it is never skipped.
// 2. Run test/interop/*.test.ts with node's test runner; exit non-zero on any failure.
// Celery always runs as `/usr/bin/python3 -m celery`: the `python3` on PATH may be another interpreter.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PYTHON = '/usr/bin/python3';
// msgpack and PyYAML: the Python clients send those serializers too (kombu uses them when importable).
const PACKAGES = ['python3-celery', 'python3-redis', 'python3-msgpack', 'python3-yaml'];

function fail(msg) {
  console.error(`interop: FAIL: ${msg}`);
  process.exit(1);
}

function probe() {
  if (!fs.existsSync(PYTHON)) return { ok: false, why: `${PYTHON} does not exist` };
  const r = spawnSync(PYTHON, ['-c', 'import celery, redis, kombu, amqp, msgpack, yaml; print(celery.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, why: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop() };
  return { ok: true, version: r.stdout.trim() };
}

function apt(args) {
  console.log(`interop: apt-get ${args.join(' ')}`);
  const r = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.error) return r.error.message;
  return r.status === 0 ? null : `apt-get ${args[0]} exited with ${r.status ?? r.signal}`;
}

let found = probe();
if (!found.ok) {
  console.log(`interop: Python Celery is missing (${found.why}); installing ${PACKAGES.join(' ')} with apt`);
  const err = apt(['update']) ?? apt(['install', '-y', ...PACKAGES]);
  if (err) fail(`cannot install ${PACKAGES.join(' ')}: ${err}`);
  found = probe();
  if (!found.ok) fail(`${PACKAGES.join(' ')} installed, but ${PYTHON} still cannot import them: ${found.why}`);
}
if (!/^5\.2\./.test(found.version)) console.warn(`interop: warning: tested against Celery 5.2, found ${found.version}`);
console.log(`interop: Python Celery ${found.version} (${PYTHON} -m celery)`);

const tests = fs.readdirSync(here).filter((f) => f.endsWith('.test.ts')).sort().map((f) => path.join('test', 'interop', f));
if (!tests.length) fail('no test/interop/*.test.ts');
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-force-exit', '--test-timeout=180000', '--test-reporter=spec', ...tests], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, SPRIG_LOG_LEVEL: process.env.SPRIG_LOG_LEVEL ?? 'warn' },
});
process.exit(r.status ?? 1);

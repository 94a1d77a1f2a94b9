/**
 * The two event-consumer examples in the repository (runtime/examples/), run as a user runs them,
 * against a worker on a private embedded broker: the slowest task types report, and the failure-rate
 * alert. They import 'sprig-queue', i.e. the built package.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { App, Worker } from '../../runtime/src/index.js';
import { startEmbeddedServer, type EmbeddedServer } from '../../runtime/src/brokers/embedded/server.js';
import { FIXTURE_TASKS, ROOT, uniqueQueue, waitFor } from '../helpers.js';

const EXAMPLES = path.join(ROOT, 'runtime', 'examples');
let server: EmbeddedServer | undefined;
const cleanups: Array<() => Promise<void>> = [];

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await server?.close();
});

async function world(): Promise<{ url: string; app: App }> {
  server ??= await startEmbeddedServer({ dir: fs.mkdtempSync(path.join(os.tmpdir(), 'sprig-test-')) });
  const url = `sprig://127.0.0.1:${server.port}?token=${server.token}`;
  const q = uniqueQueue();
  const w = new Worker({ app: FIXTURE_TASKS, logWrite: () => undefined, config: { brokerUrl: url, worker: { pool: 'async', concurrency: 4, queues: [q], events: true } } });
  await w.start();
  const app = new App({ brokerUrl: url, defaultQueue: q });
  cleanups.push(() => w.stop(), () => app.close());
  return { url, app };
}

function example(file: string, args: string[], url: string) {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(EXAMPLES, file), ...args], { cwd: ROOT, env: { ...process.env, SPRIG_BROKER_URL: url }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d));
  proc.stderr.on('data', (d: Buffer) => (err += d));
  const exit = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  cleanups.push(async () => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  return { proc, out: () => out, err: () => err, exit };
}

test('slowest-tasks.ts prints the slowest task types of each window', async () => {
  const { url, app } = await world();
  const ex = example('slowest-tasks.ts', ['--every', '1', '--top', '3'], url);
  await waitFor(() => ex.err().includes('watching ') || ex.proc.exitCode !== null, 30_000, 'the example to subscribe');
  assert.equal(ex.proc.exitCode, null, ex.err());
  // A window boundary may cut a batch in two: send batches until one report has both types.
  const reports = () => ex.out().split(/(?=\[\d\d:\d\d:\d\d\])/);
  let report: string | undefined;
  for (let round = 0; !report && round < 5; round++) {
    await Promise.all([...[300, 200, 250].map((ms) => app.sendTask('slow', [ms]).get({ timeout: 20 })), ...[1, 2, 3, 4].map((i) => app.sendTask('add', [i, i]).get({ timeout: 20 }))]);
    const seen = reports().length;
    await waitFor(() => reports().length > seen + 1, 30_000, 'the next report');
    report = reports().find((r) => /\bslow\b/.test(r) && /\badd\b/.test(r));
  }
  assert.ok(report, ex.out());
  const rows = report.split('\n').filter((l) => l.startsWith('  '));
  assert.match(rows[0]!, /^ {2}slow\s+\d+ runs {2}mean \d+\.\d{3} s {2}p95 \d+\.\d{3} s {2}max \d+\.\d{3} s$/, report);
  assert.match(rows[1]!, /^ {2}add\s+\d+ runs/, report);
  assert.ok(Number(/mean (\d+\.\d+)/.exec(rows[0]!)![1]) >= 0.2, 'slow ran at least 200 ms');
  ex.proc.kill('SIGTERM');
  assert.equal(await ex.exit, 0, ex.err());
});

test('failure-alert.ts sends an alert line when a type crosses the failure-rate threshold', async () => {
  const { url, app } = await world();
  const ex = example('failure-alert.ts', ['--threshold', '0.5', '--window', '10', '--min', '4'], url);
  await waitFor(() => ex.err().includes('watching ') || ex.proc.exitCode !== null, 30_000, 'the example to subscribe');
  assert.equal(ex.proc.exitCode, null, ex.err());
  const calls = [...[1, 2, 3, 4, 5].map((i) => app.sendTask('add', [i, i])), ...[1, 2, 3, 4].map((i) => app.sendTask('boom', [`bad ${i}`]))];
  await Promise.all(calls.map((c) => c.get({ timeout: 20, propagate: false })));
  const line = await waitFor(() => ex.out().split('\n').find((l) => l.startsWith('ALERT ')), 30_000, 'the alert line');
  assert.match(line, /^ALERT boom failure rate 100% \(4\/4 of the last runs\) crossed 50%; last error on \S+: RangeError\("bad \d"\)$/);
  assert.ok(!/ALERT add/.test(ex.out()), ex.out());
  ex.proc.kill('SIGTERM');
  assert.equal(await ex.exit, 0, ex.err());
});

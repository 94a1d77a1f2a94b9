// `npm run bench -- --only scale [--scale N]`, the embedded broker's part: N pending messages in
// its journal, its RSS, restart-to-ready (journal replay), the drain rate against the same drain of
// a 20k backlog, and the compactions the drain set off (what each row measures: bench/README.md).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { App, createBroker, type Broker } from 'sprig-queue';
import { MemSampler, spawnGroup, stopGroup, treeMemory, type MemSample, type Proc } from './procs.js';

const ROOT = path.resolve(__dirname, '..');
const SPRIG = path.join(ROOT, 'runtime', 'bin', 'sprig.js');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface EmbeddedScale {
  n: number;
  /** The broker's RSS, idle with an empty journal, and settled with n pending. */
  idleRss: number;
  pendingRss: number;
  journalMB: number;
  /** Spawn -> listening: with an empty journal (Node's own start), and with n pending (replay). */
  readyEmptyMs: number;
  readyMs: number;
  /** Sprig async pool c=50 draining the n, tasks/s, and the broker's peak RSS meanwhile. */
  rate: number;
  drainPeak: MemSample;
  /** `journal compacted: ...` lines the broker logged during the drain. */
  compactions: string[];
}

interface Running {
  proc: Proc;
  url: string;
  readyMs: number;
}

/** `sprig broker --dir dir` on a free loopback port; resolves when it listens. */
async function startBroker(dir: string): Promise<Running> {
  const t0 = performance.now();
  const proc = spawnGroup('sprig broker', process.execPath, [SPRIG, 'broker', '--dir', dir, '--idle-exit-ms', '0'], { cwd: dir, env: { SPRIG_LOG_LEVEL: 'info' } });
  for (;;) {
    const m = /listening on 127\.0\.0\.1:(\d+)/.exec(proc.output());
    if (m) {
      const readyMs = performance.now() - t0;
      const info = JSON.parse(fs.readFileSync(path.join(dir, '.sprig', 'broker.json'), 'utf8')) as { token: string };
      return { proc, url: `sprig://127.0.0.1:${m[1]}?token=${info.token}`, readyMs };
    }
    if (!proc.isAlive()) throw new Error(`sprig broker exited: ${proc.output().slice(-2000)}`);
    if (performance.now() - t0 > 300_000) throw new Error(`sprig broker not listening after 300 s: ${proc.output().slice(-2000)}`);
    await sleep(5);
  }
}

async function settledRss(pid: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    xs.push(treeMemory(pid).rss);
    await sleep(200);
  }
  return xs.sort((a, b) => a - b)[2]!;
}

async function outstanding(broker: Broker, queue: string): Promise<number> {
  const s = await broker.queueStats!(queue);
  return s.waiting + (s.reserved ?? 0);
}

/** n no-op tasks through the embedded broker; `withRestart`: the restart and memory figures too. */
export async function embeddedScale(n: number, bulk: number, withRestart: boolean): Promise<EmbeddedScale> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprig-bench-embedded-'));
  const queue = `bench-embedded-${process.pid}-${n}`;
  let b: Running | undefined;
  let worker: Proc | undefined;
  try {
    b = await startBroker(dir);
    const readyEmptyMs = b.readyMs;
    await sleep(1000);
    const idleRss = await settledRss(b.proc.pid);
    const app = new App({ brokerUrl: b.url });
    try {
      const options = { queue, ignoreResult: true };
      for (let i = 0; i < n; i += bulk) await app.sendMany(Array.from({ length: Math.min(bulk, n - i) }, () => ({ name: 'bench.noop', options })));
    } finally {
      await app.close();
    }
    let readyMs = NaN;
    let pendingRss = NaN;
    if (withRestart) {
      await stopGroup(b.proc);
      b = await startBroker(dir);
      readyMs = b.readyMs;
      await sleep(1000);
      pendingRss = await settledRss(b.proc.pid);
    }
    const journalMB = fs.statSync(path.join(dir, '.sprig', 'journal', 'journal.log')).size / 2 ** 20;
    const broker = await createBroker(b.url);
    try {
      const got = await outstanding(broker, queue);
      if (got !== n) throw new Error(`expected ${n} messages pending on the embedded broker, found ${got}`);
      const mem = new MemSampler(b.proc.pid, 250);
      const tSpawn = performance.now();
      worker = spawnGroup('sprig async c=50 (embedded)', process.execPath, [SPRIG, 'worker', '--app', path.join(ROOT, 'bench', 'tasks.ts'), '-P', 'async', '-c', '50', '-Q', queue, '--loglevel', 'warn', '--broker', b.url], { cwd: ROOT, env: { SPRIG_BROKER_URL: '', SPRIG_RESULT_BACKEND: '' } });
      let t0: number | undefined;
      for (;;) {
        const left = await outstanding(broker, queue);
        if (t0 === undefined && left < n) t0 = performance.now();
        if (left === 0) break;
        if (!worker.isAlive()) throw new Error(`${worker.name} exited: ${worker.output().slice(-2000)}`);
        if (performance.now() - tSpawn > Math.max(180_000, n * 2)) throw new Error(`${worker.name}: ${left} of ${n} left`);
        await sleep(20);
      }
      const rate = (n / (performance.now() - t0!)) * 1000;
      const drainPeak = mem.stop();
      // The broker's output since its (re)start: replay, then the drain.
      const compactions = b.proc.output().split('\n').filter((l) => l.includes('journal compacted'));
      return { n, idleRss, pendingRss, journalMB, readyEmptyMs, readyMs, rate, drainPeak, compactions };
    } finally {
      await broker.close();
    }
  } finally {
    if (worker) await stopGroup(worker);
    if (b) await stopGroup(b.proc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

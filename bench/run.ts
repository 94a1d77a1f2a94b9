// `npm run bench [-- --quick] [-- --profile] [-- --only enqueue,drain,latency,amqp,rss,postgres,startup]`
// Sprig against BullMQ and Celery, side by side in one run on the same Redis (and RabbitMQ).
// What each row measures: bench/README.md.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import * as amqplib from 'amqplib';
import { Queue, QueueEvents } from 'bullmq';
import { App } from 'sprig-queue';
import { killAll, MemSampler, spawnGroup, stopGroup, treeMemory, type MemSample, type Proc } from './procs.js';
import { formatSummary, summarize } from './profile.js';
import { drainBoss, drainGraphile, drainSprigPg, enqueueBoss, enqueueGraphile, enqueueSprigPg, packageVersion, postgresVersion } from './postgres.js';

// ---- settings ------------------------------------------------------------------------------

const ROOT = path.resolve(__dirname, '..');
const BENCH = __dirname;
const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const PROFILE = argv.includes('--profile');
const onlyArg = argv.find((a) => a.startsWith('--only='))?.slice(7) ?? (argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined);
const ONLY = onlyArg ? new Set(onlyArg.split(',')) : undefined;

const REDIS_HOST = '127.0.0.1';
const REDIS_PORT = 6379;
const DB = Number(process.env.BENCH_REDIS_DB ?? 9);
if (!Number.isInteger(DB) || DB <= 0) throw new Error(`BENCH_REDIS_DB must be a database index other than 0 (got ${process.env.BENCH_REDIS_DB})`);
const REDIS_URL = `redis://${REDIS_HOST}:${REDIS_PORT}/${DB}`;
/** kombu and Sprig spelling of vhost `/`. */
const AMQP_URL = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672//';
const PYTHON = '/usr/bin/python3';

const P = QUICK
  ? { reps: 1, enqueueN: 3000, drainN: 2000, amqpN: 2000, latencyN: 100, warmup: 10, inflight: 100, bulk: 1000 }
  : { reps: 3, enqueueN: 20000, drainN: 20000, amqpN: 20000, latencyN: 500, warmup: 20, inflight: 100, bulk: 1000 };
const POLL_MS = 2;
/** graphile-worker: concurrency = its pool of 10 connections (its default); pg-boss: jobs per fetch = Sprig's window there (c=50 x 4); pg-boss waits its polling interval (0.5 s at least) between fetches. */
const PG_PEER_CONCURRENCY = 10;
const PG_PEER_BATCH = 200;
const DRAIN_TIMEOUT_MS = 180_000;

const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB, lazyConnect: true });
const bullConnection = { host: REDIS_HOST, port: REDIS_PORT, db: DB, maxRetriesPerRequest: null };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const qname = () => `bench-${randomUUID()}`;

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Flush the bench's own database (never db 0). */
async function flush(): Promise<void> {
  if (DB === 0) throw new Error('refusing to flush db 0');
  await redis.flushdb();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

// ---- workers -------------------------------------------------------------------------------

type SprigPool = 'async' | 'process';

function sprigWorker(pool: SprigPool, queue: string, brokerUrl = REDIS_URL, nodeArgs: string[] = [], extra: string[] = []): Proc {
  const c = pool === 'async' ? '50' : '2';
  return spawnGroup(`sprig ${pool} c=${c}`, process.execPath, [
    ...nodeArgs,
    path.join(ROOT, 'runtime', 'bin', 'sprig.js'),
    'worker',
    '--app',
    path.join(BENCH, 'tasks.ts'),
    '-P',
    pool,
    '-c',
    c,
    '-Q',
    queue,
    '--loglevel',
    'warn',
    '--broker',
    brokerUrl,
    ...extra,
  ], { cwd: ROOT, env: { SPRIG_BROKER_URL: '', SPRIG_RESULT_BACKEND: '' } });
}

function bullWorker(queue: string): Proc {
  return spawnGroup('bullmq c=50', process.execPath, [path.join(BENCH, 'bullmq-worker.mjs'), queue, '50', String(DB)], { cwd: ROOT });
}

function celeryWorker(queue: string, broker: string): Proc {
  return spawnGroup(
    'celery prefork c=2',
    PYTHON,
    ['-m', 'celery', '-A', 'celery_app', 'worker', '-P', 'prefork', '-c', '2', '-Q', queue, '--loglevel', 'WARNING', '--without-gossip', '--without-mingle', '--without-heartbeat', '-n', `bench-${process.pid}@%h`],
    { cwd: BENCH, env: { BENCH_BROKER: broker, BENCH_QUEUE: queue, PYTHONDONTWRITEBYTECODE: '1' } },
  );
}

/** Errors a worker printed (we run them at warn level: a benchmark run prints nothing). */
function workerErrors(p: Proc): string | undefined {
  const lines = p.output().split('\n').filter((l) => /\b(ERROR|CRITICAL|Error|error|Traceback|unregistered)\b/.test(l));
  return lines.length ? lines.slice(0, 5).join('\n') : undefined;
}

/** Until a worker's connection is parked in a blocking pop on our db (it is consuming). */
async function waitConsuming(p: Proc, since: number, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const list = (await redis.client('LIST')) as string;
    const ageLimit = Math.ceil((Date.now() - since) / 1000) + 1;
    for (const line of list.split('\n')) {
      const f = Object.fromEntries(line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      if (Number(f.db) === DB && /^(blmove|brpop|blpop|bzpopmin|bzpopmax|brpoplpush|blmpop)$/.test(f.cmd ?? '') && Number(f.age) <= ageLimit) return;
    }
    if (!p.isAlive()) throw new Error(`${p.name} exited: ${p.output().slice(-2000)}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`${p.name} did not start consuming within ${timeoutMs} ms: ${p.output().slice(-2000)}`);
    await sleep(20);
  }
}

// ---- enqueue -------------------------------------------------------------------------------

async function withApp<T>(brokerUrl: string, fn: (app: App) => Promise<T>): Promise<T> {
  const app = new App({ brokerUrl, resultBackend: brokerUrl.startsWith('redis') ? brokerUrl : undefined });
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

async function sprigSendMany(app: App, queue: string, n: number, batch = P.bulk): Promise<void> {
  for (let i = 0; i < n; i += batch) {
    const k = Math.min(batch, n - i);
    const calls = new Array(k);
    for (let j = 0; j < k; j++) calls[j] = { name: 'bench.noop', options: { queue, ignoreResult: true } };
    await app.sendMany(calls);
  }
}

async function inflightLoop(n: number, inflight: number, one: () => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next++ < n) await one();
    }),
  );
}

const BULL_JOB_OPTS = { removeOnComplete: true, removeOnFail: true };
const ENQUEUE_WARMUP = 500;

async function enqueueSprig(mode: 'single' | 'bulk', n: number): Promise<number> {
  await flush();
  const q = qname();
  return withApp(REDIS_URL, async (app) => {
    // Connect and warm the JIT first (not timed): the first configuration of a run would pay for it.
    await app.sendTask('bench.noop', [], {}, { queue: q, ignoreResult: true }).sent;
    await inflightLoop(ENQUEUE_WARMUP, P.inflight, () => app.sendTask('bench.noop', [], {}, { queue: q, ignoreResult: true }).sent);
    const t0 = performance.now();
    if (mode === 'single') await inflightLoop(n, P.inflight, () => app.sendTask('bench.noop', [], {}, { queue: q, ignoreResult: true }).sent);
    else await sprigSendMany(app, q, n);
    const dt = performance.now() - t0;
    const len = await redis.llen(q);
    if (len !== n + 1 + ENQUEUE_WARMUP) throw new Error(`expected ${n + 1 + ENQUEUE_WARMUP} messages in ${q}, found ${len}`);
    return (n / dt) * 1000;
  });
}

async function enqueueBull(mode: 'single' | 'bulk', n: number): Promise<number> {
  await flush();
  const q = qname();
  const queue = new Queue(q, { connection: bullConnection });
  try {
    await queue.add('bench.noop', {}, BULL_JOB_OPTS);
    await inflightLoop(ENQUEUE_WARMUP, P.inflight, () => queue.add('bench.noop', {}, BULL_JOB_OPTS));
    const t0 = performance.now();
    if (mode === 'single') await inflightLoop(n, P.inflight, () => queue.add('bench.noop', {}, BULL_JOB_OPTS));
    else {
      for (let i = 0; i < n; i += P.bulk) {
        const k = Math.min(P.bulk, n - i);
        const jobs = new Array(k);
        for (let j = 0; j < k; j++) jobs[j] = { name: 'bench.noop', data: {}, opts: BULL_JOB_OPTS };
        await queue.addBulk(jobs);
      }
    }
    const dt = performance.now() - t0;
    const waiting = await queue.getWaitingCount();
    if (waiting !== n + 1 + ENQUEUE_WARMUP) throw new Error(`expected ${n + 1 + ENQUEUE_WARMUP} BullMQ jobs waiting, found ${waiting}`);
    return (n / dt) * 1000;
  } finally {
    await queue.close();
  }
}

// ---- drain ---------------------------------------------------------------------------------

interface Drain {
  /** Tasks/s from the first task taken off the queue to the last one acknowledged. */
  rate: number;
  /** Tasks/s from spawning the worker (startup included). */
  rateWithStartup: number;
  startupMs: number;
  peak: MemSample;
}

/**
 * Spawn the worker on a full queue and poll: `taken()` tells when the first task left the
 * queue, `remaining()` (queued + unacked) when the last was acknowledged.
 */
async function timeDrain(n: number, spawnWorker: () => Proc, queued: () => Promise<number>, remaining: () => Promise<number>, verify?: () => Promise<void>): Promise<Drain> {
  const tSpawn = performance.now();
  const w = spawnWorker();
  const mem = new MemSampler(w.pid, 100);
  let t0: number | undefined;
  let tEnd: number | undefined;
  try {
    for (;;) {
      const now = performance.now();
      if (t0 === undefined && (await queued()) < n) t0 = now;
      if (t0 !== undefined && (await remaining()) === 0) {
        tEnd = performance.now();
        break;
      }
      if (!w.isAlive()) throw new Error(`${w.name} exited during the drain: ${w.output().slice(-2000)}`);
      if (now - tSpawn > DRAIN_TIMEOUT_MS) throw new Error(`${w.name}: drain not done after ${DRAIN_TIMEOUT_MS} ms (${await remaining()} left)`);
      await sleep(POLL_MS);
    }
    const peak = mem.stop();
    // RabbitMQ: the last prefetch window is still running when no message is ready; let it finish
    // (Celery requeues reserved acks-late messages at shutdown) before stopping and verifying.
    if (verify) await sleep(500);
    await stopGroup(w);
    const errs = workerErrors(w);
    if (errs) throw new Error(`${w.name} reported errors:\n${errs}`);
    if (verify) await verify();
    return { rate: (n / (tEnd - t0)) * 1000, rateWithStartup: (n / (tEnd - tSpawn)) * 1000, startupMs: t0 - tSpawn, peak };
  } finally {
    mem.stop();
    await stopGroup(w);
  }
}

function kombuRemaining(q: string): () => Promise<number> {
  return async () => {
    const r = await redis.pipeline().llen(q).hlen('unacked').exec();
    return Number(r?.[0]?.[1] ?? 0) + Number(r?.[1]?.[1] ?? 0);
  };
}

/** `sprig-process-fixed4`: the process pool with Celery's fixed window (`--prefetch-multiplier 4`) instead of the adaptive one. */
async function drainKombu(kind: 'sprig-async' | 'sprig-process' | 'sprig-process-fixed4' | 'celery', n: number, profileDir?: string): Promise<Drain> {
  await flush();
  const q = qname();
  // Celery's messages are sent by Sprig too (protocol v2, kombu's layout): the enqueue is not timed here.
  await withApp(REDIS_URL, (app) => sprigSendMany(app, q, n));
  const len = await redis.llen(q);
  if (len !== n) throw new Error(`expected ${n} messages, found ${len}`);
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const extra = kind === 'sprig-process-fixed4' ? ['--prefetch-multiplier', '4'] : [];
  const spawnW = kind === 'celery' ? () => celeryWorker(q, REDIS_URL) : () => sprigWorker(kind === 'sprig-async' ? 'async' : 'process', q, REDIS_URL, nodeArgs, extra);
  return timeDrain(n, spawnW, () => redis.llen(q), kombuRemaining(q));
}

async function drainBull(n: number): Promise<Drain> {
  await flush();
  const q = qname();
  const queue = new Queue(q, { connection: bullConnection });
  try {
    for (let i = 0; i < n; i += P.bulk) {
      const k = Math.min(P.bulk, n - i);
      const jobs = new Array(k);
      for (let j = 0; j < k; j++) jobs[j] = { name: 'bench.noop', data: {}, opts: BULL_JOB_OPTS };
      await queue.addBulk(jobs);
    }
    const wait = `bull:${q}:wait`;
    const active = `bull:${q}:active`;
    return await timeDrain(
      n,
      () => bullWorker(q),
      () => redis.llen(wait),
      async () => {
        const r = await redis.pipeline().llen(wait).llen(active).exec();
        return Number(r?.[0]?.[1] ?? 0) + Number(r?.[1]?.[1] ?? 0);
      },
    );
  } finally {
    await queue.close();
  }
}

// ---- RabbitMQ ------------------------------------------------------------------------------

async function amqpChannel(): Promise<{ conn: amqplib.ChannelModel; ch: () => Promise<amqplib.Channel> }> {
  const conn = await amqplib.connect(AMQP_URL.replace(/\/\/?$/, '/%2F'));
  conn.on('error', () => undefined);
  let ch: amqplib.Channel | undefined;
  return {
    conn,
    ch: async () => {
      if (!ch) {
        ch = await conn.createChannel();
        ch.on('error', () => undefined);
        ch.on('close', () => (ch = undefined));
      }
      return ch;
    },
  };
}

async function drainAmqp(kind: 'sprig-async' | 'sprig-process' | 'celery', n: number): Promise<Drain> {
  const q = qname();
  const { conn, ch } = await amqpChannel();
  const ready = async () => (await (await ch()).checkQueue(q)).messageCount;
  try {
    if (kind === 'celery') {
      const r = spawnSync(PYTHON, ['celery_app.py', 'enqueue', String(n)], { cwd: BENCH, env: { ...process.env, BENCH_BROKER: AMQP_URL, BENCH_QUEUE: q }, encoding: 'utf8', timeout: 300_000 });
      if (r.status !== 0) throw new Error(`celery enqueue failed: ${(r.stderr || r.stdout || String(r.error)).slice(-2000)}`);
    } else {
      await withApp(AMQP_URL, (app) => sprigSendMany(app, q, n));
    }
    for (let i = 0; (await ready()) !== n; i++) {
      if (i > 500) throw new Error(`expected ${n} messages ready in ${q}, found ${await ready()}`);
      await sleep(10);
    }
    const spawnW = kind === 'celery' ? () => celeryWorker(q, AMQP_URL) : () => sprigWorker(kind === 'sprig-async' ? 'async' : 'process', q, AMQP_URL);
    // RabbitMQ tells ready messages only: the drain ends when none is left to deliver (the last
    // prefetch window, <= 4 x concurrency tasks, is not timed); every message must be acked once
    // the worker has stopped (unacked ones would be ready again).
    return await timeDrain(n, spawnW, ready, ready, async () => {
      await sleep(200);
      const left = await ready();
      if (left !== 0) throw new Error(`${left} messages were not acknowledged`);
    });
  } finally {
    for (const name of [q, `${q}.dead-letter`]) await (await ch()).deleteQueue(name).catch(() => undefined);
    await (await ch()).deleteExchange(q).catch(() => undefined);
    await conn.close().catch(() => undefined);
  }
}

// ---- latency -------------------------------------------------------------------------------

async function latencySprig(n: number): Promise<number[]> {
  await flush();
  const q = qname();
  const w = sprigWorker('async', q);
  try {
    return await withApp(REDIS_URL, async (app) => {
      const once = async (i: number, timeout: number) => {
        const t = performance.now();
        const r = app.sendTask<number>('bench.echo', [i], {}, { queue: q });
        const v = await r.get({ timeout });
        if (v !== i) throw new Error(`bench.echo(${i}) returned ${JSON.stringify(v)}`);
        return performance.now() - t;
      };
      await once(-1, 60); // the worker is up
      for (let i = 0; i < P.warmup; i++) await once(i, 10);
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(await once(i, 10));
      return out;
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${w.output().slice(-1500)}`, { cause: err });
  } finally {
    await stopGroup(w);
  }
}

async function latencyBull(n: number): Promise<number[]> {
  await flush();
  const q = qname();
  const queue = new Queue(q, { connection: bullConnection });
  const events = new QueueEvents(q, { connection: bullConnection });
  const w = bullWorker(q);
  try {
    await events.waitUntilReady();
    const once = async (i: number, timeout: number) => {
      const t = performance.now();
      const job = await queue.add('bench.echo', { x: i });
      const v: unknown = await job.waitUntilFinished(events, timeout);
      if (v !== i) throw new Error(`bench.echo(${i}) returned ${JSON.stringify(v)}`);
      return performance.now() - t;
    };
    await once(-1, 60_000);
    for (let i = 0; i < P.warmup; i++) await once(i, 10_000);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(await once(i, 10_000));
    return out;
  } finally {
    await stopGroup(w);
    await events.close();
    await queue.close();
  }
}

// ---- idle memory ---------------------------------------------------------------------------

async function idleMemory(spawnW: (q: string) => Proc): Promise<MemSample> {
  await flush();
  const q = qname();
  const since = Date.now();
  const w = spawnW(q);
  try {
    await waitConsuming(w, since);
    await sleep(1000);
    const samples: MemSample[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(treeMemory(w.pid));
      await sleep(200);
    }
    samples.sort((a, b) => a.rss - b.rss);
    return samples[2]!;
  } finally {
    await stopGroup(w);
  }
}

// ---- startup -------------------------------------------------------------------------------

/** Wall times (ms) of `runs` runs of a command, each checked to exit 0. */
function wallTimes(cmd: string, args: string[], runs: number, env: NodeJS.ProcessEnv = {}, cwd = ROOT): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
    const ms = performance.now() - t;
    if (r.status !== 0) throw new Error(`${[cmd, ...args].join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout || String(r.error)).slice(-800)}`);
    out.push(ms);
  }
  return out;
}

interface Startup {
  version: number[];
  call: number[];
  ping: number[];
  /** The known workers of the broker forgotten (SPRIG_KNOWN_WORKERS=0): ping waits its whole window. */
  pingColdWindow: number[];
}

const STARTUP_RUNS = 5;

/**
 * The CLI's start-up, as a person runs it (a fresh process each time): `sprig --version`, `sprig call`
 * (which asks the workers whether one knows the task) and `sprig inspect ping`, with a Sprig worker
 * running on the bench's Redis database; and the same through Celery's CLI.
 */
async function startupSprig(): Promise<Startup> {
  await flush();
  const q = qname();
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'sprig-bench-cache-'));
  const w = sprigWorker('async', q);
  const sprig = (args: string[], env: NodeJS.ProcessEnv = {}) => wallTimes(process.execPath, [path.join(ROOT, 'runtime', 'bin', 'sprig.js'), ...args], STARTUP_RUNS, { SPRIG_BROKER_URL: '', XDG_CACHE_HOME: cache, ...env });
  try {
    await waitConsuming(w, Date.now() - 1000);
    // Once, untimed: the worker is learned (known-workers), as after any earlier run.
    wallTimes(process.execPath, [path.join(ROOT, 'runtime', 'bin', 'sprig.js'), 'inspect', 'ping', '-b', REDIS_URL], 1, { XDG_CACHE_HOME: cache });
    return {
      version: sprig(['--version']),
      call: sprig(['call', 'bench.noop', '-Q', q, '-b', REDIS_URL]),
      ping: sprig(['inspect', 'ping', '-b', REDIS_URL]),
      pingColdWindow: sprig(['inspect', 'ping', '-b', REDIS_URL], { SPRIG_KNOWN_WORKERS: '0' }),
    };
  } finally {
    await stopGroup(w);
    fs.rmSync(cache, { recursive: true, force: true });
  }
}

/** Celery's CLI against the same kind of Sprig worker (it answers Celery's pidbox ping). */
async function startupCelery(): Promise<Startup> {
  await flush();
  const q = qname();
  const w = sprigWorker('async', q);
  const celery = (args: string[]) => wallTimes(PYTHON, ['-m', 'celery', '-A', 'celery_app', ...args], STARTUP_RUNS, { BENCH_BROKER: REDIS_URL, BENCH_QUEUE: q, PYTHONDONTWRITEBYTECODE: '1' }, BENCH);
  try {
    await waitConsuming(w, Date.now() - 1000);
    const ping = celery(['inspect', 'ping']);
    // Celery knows no workers beforehand: its ping is always the whole window.
    return { version: celery(['--version']), call: celery(['call', 'bench.noop', '--queue', q]), ping, pingColdWindow: ping };
  } finally {
    await stopGroup(w);
  }
}

// ---- rows ----------------------------------------------------------------------------------

interface Row {
  name: string;
  sprig: number | null;
  peer: number | null;
  unit: string;
  /** > 1: Sprig is better (throughput: sprig/peer; latency and memory: peer/sprig). */
  ratio: number | null;
  runs: number;
  sprigRuns?: number[];
  peerRuns?: number[];
  error?: string;
  notes?: string;
}

/** Results of one configuration across repetitions. */
class Series<T> {
  readonly values: T[] = [];
  readonly errors: string[] = [];
  constructor(readonly label: string) {}
  async run(fn: () => Promise<T>): Promise<void> {
    const t = performance.now();
    try {
      this.values.push(await fn());
      log(`${this.label}: ok (${((performance.now() - t) / 1000).toFixed(1)} s)`);
    } catch (err) {
      const msg = (err as Error).message ?? String(err);
      this.errors.push(msg);
      log(`${this.label}: FAILED: ${msg.split('\n').slice(0, 6).join(' | ')}`);
    }
  }
}

function row(name: string, unit: string, higherIsBetter: boolean, s: Series<unknown>, p: Series<unknown>, pick: (v: never) => number, notes?: string): Row {
  const sv = (s.values as never[]).map(pick);
  const pv = (p.values as never[]).map(pick);
  const sm = sv.length ? median(sv) : null;
  const pm = pv.length ? median(pv) : null;
  const errors = [...(sm === null ? s.errors.slice(0, 1).map((e) => `Sprig: ${e}`) : []), ...(pm === null ? p.errors.slice(0, 1).map((e) => `peer: ${e}`) : [])];
  return {
    name,
    sprig: sm === null ? null : round(sm),
    peer: pm === null ? null : round(pm),
    unit,
    ratio: sm === null || pm === null || !sm || !pm ? null : Math.round((higherIsBetter ? sm / pm : pm / sm) * 100) / 100,
    runs: Math.min(sv.length, pv.length),
    sprigRuns: sv.map(round),
    peerRuns: pv.map(round),
    ...(errors.length ? { error: errors.join('\n') } : {}),
    ...(notes ? { notes } : {}),
  };
}

function round(x: number): number {
  return Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 100) / 100;
}

function fmt(v: number | null, unit: string): string {
  if (v === null) return 'n/a';
  if (unit === 'tasks/s') return Math.round(v).toLocaleString('en-US');
  if (unit === 'ms') return v.toFixed(2);
  return v.toFixed(1);
}

function printTable(rows: Row[], k: number): string {
  const head = ['row', 'Sprig', 'peer', 'unit', 'ratio'];
  const body = rows.map((r) => [r.name, fmt(r.sprig, r.unit), fmt(r.peer, r.unit), r.unit, r.ratio === null ? 'n/a' : `${r.ratio.toFixed(2)}x`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [`median of ${k} run${k === 1 ? '' : 's'} (ratio > 1: Sprig is better; for ms and MB it is peer/Sprig)`, line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  for (const r of rows) if (r.error) out.push(`n/a: ${r.name}: ${r.error.split('\n').slice(0, 4).join(' | ')}`);
  return out.join('\n');
}

// ---- environment ---------------------------------------------------------------------------

function celeryAvailable(): { ok: boolean; version?: string; error?: string } {
  // The Redis rows need the redis client too (kombu's Redis transport imports it).
  const probe = () => spawnSync(PYTHON, ['-c', 'import celery, redis; print(celery.__version__)'], { encoding: 'utf8' });
  let r = probe();
  if (r.status === 0) return { ok: true, version: r.stdout.trim() };
  log('python3-celery or python3-redis is missing: installing them with apt-get');
  const apt = (args: string[]) =>
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let inst = apt(['install', '-y', '-q', 'python3-celery', 'python3-redis']);
  // A fresh machine may not have the package lists yet.
  if (inst.status !== 0) {
    apt(['update', '-q']);
    inst = apt(['install', '-y', '-q', 'python3-celery', 'python3-redis']);
  }
  r = probe();
  if (r.status === 0) return { ok: true, version: r.stdout.trim() };
  return { ok: false, error: `python3-celery/python3-redis not available (apt-get install exited ${inst.status}: ${(inst.stderr || '').slice(-500)})` };
}

function versionOf(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

// ---- profile -------------------------------------------------------------------------------

async function profile(): Promise<void> {
  const dir = path.join(BENCH, 'profiles');
  fs.rmSync(dir, { recursive: true, force: true });
  const report: string[] = [];
  for (const pool of ['async', 'process'] as const) {
    const pdir = path.join(dir, pool);
    fs.mkdirSync(pdir, { recursive: true });
    const d = await drainKombu(pool === 'async' ? 'sprig-async' : 'sprig-process', P.drainN, pdir);
    log(`profiled drain, ${pool} pool: ${Math.round(d.rate)} tasks/s (profiler on)`);
    await sleep(500);
    const files = fs.readdirSync(pdir).filter((f) => f.endsWith('.cpuprofile'));
    // The worker's own profile is the biggest; pool children come after it.
    const sized = files.map((f) => ({ f, size: fs.statSync(path.join(pdir, f)).size })).sort((a, b) => b.size - a.size);
    for (const { f } of sized) {
      report.push(formatSummary(`${pool} pool drain of ${P.drainN} (${Math.round(d.rate)} tasks/s under the profiler): ${path.relative(ROOT, path.join(pdir, f))}`, summarize(path.join(pdir, f), 15)));
    }
  }
  const text = report.join('\n\n');
  fs.writeFileSync(path.join(dir, 'summary.txt'), text + '\n');
  console.log(text);
}

// ---- main ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  await redis.connect();
  if (PROFILE) return profile();
  const want = (s: string) => !ONLY || ONLY.has(s);
  const celery = celeryAvailable();
  const celeryRun = <T>(s: Series<T>, fn: () => Promise<T>) => (celery.ok ? s.run(fn) : Promise.resolve(void s.errors.push(celery.error!)));
  const t0 = performance.now();

  const S = {
    enqSprigSingle: new Series<number>('enqueue Sprig sendTask'),
    enqBullSingle: new Series<number>('enqueue BullMQ add'),
    enqSprigBulk: new Series<number>('enqueue Sprig sendMany'),
    enqBullBulk: new Series<number>('enqueue BullMQ addBulk'),
    drainAsync: new Series<Drain>('drain Sprig async c=50'),
    drainBull: new Series<Drain>('drain BullMQ c=50'),
    drainProcess: new Series<Drain>('drain Sprig process c=2'),
    drainCelery: new Series<Drain>('drain Celery prefork c=2'),
    drainProcessFixed: new Series<Drain>('drain Sprig process c=2, fixed window 4'),
    latSprig: new Series<number[]>('latency Sprig'),
    latBull: new Series<number[]>('latency BullMQ'),
    amqpAsync: new Series<Drain>('RabbitMQ drain Sprig async c=50'),
    amqpProcess: new Series<Drain>('RabbitMQ drain Sprig process c=2'),
    amqpCelery: new Series<Drain>('RabbitMQ drain Celery prefork c=2'),
    idleAsync: new Series<MemSample>('idle RSS Sprig async'),
    idleBull: new Series<MemSample>('idle RSS BullMQ'),
    idleProcess: new Series<MemSample>('idle RSS Sprig process'),
    idleCelery: new Series<MemSample>('idle RSS Celery'),
    pgEnqSprigSingle: new Series<number>('PostgreSQL enqueue Sprig sendTask'),
    pgEnqGraphileSingle: new Series<number>('PostgreSQL enqueue graphile-worker addJob'),
    pgEnqBossSingle: new Series<number>('PostgreSQL enqueue pg-boss send'),
    pgEnqSprigBulk: new Series<number>('PostgreSQL enqueue Sprig sendMany'),
    pgEnqGraphileBulk: new Series<number>('PostgreSQL enqueue graphile-worker add_jobs'),
    pgEnqBossBulk: new Series<number>('PostgreSQL enqueue pg-boss insert'),
    pgDrainSprig: new Series<Drain>('PostgreSQL drain Sprig async c=50'),
    pgDrainGraphile: new Series<Drain>('PostgreSQL drain graphile-worker'),
    pgDrainBoss: new Series<Drain>('PostgreSQL drain pg-boss'),
    startupSprig: new Series<Startup>('startup Sprig CLI'),
    startupCelery: new Series<Startup>('startup Celery CLI'),
  };

  // Repetitions are interleaved (A B A B ...) so drift on a shared machine hits both sides.
  for (let rep = 1; rep <= P.reps; rep++) {
    log(`repetition ${rep}/${P.reps}`);
    if (want('enqueue')) {
      await S.enqSprigSingle.run(() => enqueueSprig('single', P.enqueueN));
      await S.enqBullSingle.run(() => enqueueBull('single', P.enqueueN));
      await S.enqSprigBulk.run(() => enqueueSprig('bulk', P.enqueueN));
      await S.enqBullBulk.run(() => enqueueBull('bulk', P.enqueueN));
    }
    if (want('drain')) {
      await S.drainAsync.run(() => drainKombu('sprig-async', P.drainN));
      await S.drainBull.run(() => drainBull(P.drainN));
      await S.drainProcess.run(() => drainKombu('sprig-process', P.drainN));
      await celeryRun(S.drainCelery, () => drainKombu('celery', P.drainN));
      await S.drainProcessFixed.run(() => drainKombu('sprig-process-fixed4', P.drainN));
    }
    if (want('latency')) {
      await S.latSprig.run(() => latencySprig(P.latencyN));
      await S.latBull.run(() => latencyBull(P.latencyN));
    }
    if (want('amqp')) {
      await S.amqpProcess.run(() => drainAmqp('sprig-process', P.amqpN));
      await S.amqpAsync.run(() => drainAmqp('sprig-async', P.amqpN));
      await celeryRun(S.amqpCelery, () => drainAmqp('celery', P.amqpN));
    }
    if (want('rss')) {
      await S.idleAsync.run(() => idleMemory((q) => sprigWorker('async', q)));
      await S.idleBull.run(() => idleMemory((q) => bullWorker(q)));
      await S.idleProcess.run(() => idleMemory((q) => sprigWorker('process', q)));
      await celeryRun(S.idleCelery, () => idleMemory((q) => celeryWorker(q, REDIS_URL)));
    }
    if (want('postgres')) {
      await S.pgEnqSprigSingle.run(() => enqueueSprigPg('single', P.enqueueN, P.inflight, P.bulk));
      await S.pgEnqGraphileSingle.run(() => enqueueGraphile('single', P.enqueueN, P.inflight, P.bulk));
      await S.pgEnqBossSingle.run(() => enqueueBoss('single', P.enqueueN, P.inflight, P.bulk));
      await S.pgEnqSprigBulk.run(() => enqueueSprigPg('bulk', P.enqueueN, P.inflight, P.bulk));
      await S.pgEnqGraphileBulk.run(() => enqueueGraphile('bulk', P.enqueueN, P.inflight, P.bulk));
      await S.pgEnqBossBulk.run(() => enqueueBoss('bulk', P.enqueueN, P.inflight, P.bulk));
      await S.pgDrainSprig.run(() => drainSprigPg(P.drainN, P.bulk, timeDrain));
      await S.pgDrainGraphile.run(() => drainGraphile(P.drainN, PG_PEER_CONCURRENCY, timeDrain));
      await S.pgDrainBoss.run(() => drainBoss(P.drainN, PG_PEER_BATCH, timeDrain));
    }
    if (want('startup')) {
      await S.startupSprig.run(startupSprig);
      await celeryRun(S.startupCelery, startupCelery);
    }
  }
  // The PostgreSQL rows alone touch no Redis db (others may be testing on this Redis).
  if (!ONLY || [...ONLY].some((s) => s !== 'postgres')) await flush();

  const rate = (v: number) => v;
  const drainRate = (d: Drain) => d.rate;
  const p50 = (xs: number[]) => percentile(xs, 50);
  const p99 = (xs: number[]) => percentile(xs, 99);
  const rss = (m: MemSample) => m.rss;
  const peakRss = (d: Drain) => d.peak.rss;
  const N = P.drainN.toLocaleString('en-US');
  const rows: Row[] = [];
  if (want('enqueue')) {
    rows.push(row(`enqueue single: Sprig sendTask, ${P.inflight} in flight vs BullMQ add, ${P.inflight} in flight`, 'tasks/s', true, S.enqSprigSingle, S.enqBullSingle, rate));
    rows.push(row(`enqueue bulk: Sprig sendMany x${P.bulk} vs BullMQ addBulk x${P.bulk}`, 'tasks/s', true, S.enqSprigBulk, S.enqBullBulk, rate));
  }
  if (want('drain')) {
    rows.push(row(`drain ${N} no-op (Redis): Sprig async pool c=50 (ignoreResult, acksLate) vs BullMQ Worker c=50 (removeOnComplete)`, 'tasks/s', true, S.drainAsync, S.drainBull, drainRate));
    rows.push(row(`drain ${N} no-op (Redis): Sprig process pool c=2 (ignoreResult, acksLate, default adaptive window) vs Celery prefork c=2 (ignore_result, acks_late)`, 'tasks/s', true, S.drainProcess, S.drainCelery, drainRate));
    rows.push(row(`drain ${N} no-op (Redis): Sprig process pool c=2 (ignoreResult, acksLate) vs BullMQ Worker c=50 (removeOnComplete)`, 'tasks/s', true, S.drainProcess, S.drainBull, drainRate));
    rows.push(row(`drain ${N} no-op (Redis): Sprig process pool c=2 with Celery's fixed window (--prefetch-multiplier 4) vs Celery prefork c=2`, 'tasks/s', true, S.drainProcessFixed, S.drainCelery, drainRate));
  }
  if (want('latency')) {
    const l = `${P.latencyN} sequential enqueue -> result round trips: Sprig sendTask+get (async pool c=50, Redis results) vs BullMQ add+waitUntilFinished (c=50)`;
    rows.push(row(`latency p50, ${l}`, 'ms', false, S.latSprig, S.latBull, p50));
    rows.push(row(`latency p99, ${l}`, 'ms', false, S.latSprig, S.latBull, p99));
  }
  if (want('amqp')) {
    const A = P.amqpN.toLocaleString('en-US');
    rows.push(row(`drain ${A} no-op (RabbitMQ): Sprig process pool c=2 (ignoreResult, acksLate) vs Celery prefork c=2 on RabbitMQ (ignore_result, acks_late)`, 'tasks/s', true, S.amqpProcess, S.amqpCelery, drainRate));
    rows.push(row(`drain ${A} no-op (RabbitMQ): Sprig async pool c=50 (ignoreResult, acksLate) vs Celery prefork c=2 on RabbitMQ (ignore_result, acks_late)`, 'tasks/s', true, S.amqpAsync, S.amqpCelery, drainRate));
  }
  if (want('rss')) {
    rows.push(row('worker RSS idle: Sprig async pool c=50 vs BullMQ Worker process c=50', 'MB', false, S.idleAsync, S.idleBull, rss));
  }
  if (want('drain')) {
    rows.push(row(`worker RSS under load (peak during the Redis drain): Sprig async pool c=50 vs BullMQ Worker process c=50`, 'MB', false, S.drainAsync, S.drainBull, peakRss));
  }
  if (want('rss')) {
    rows.push(row('worker RSS idle, total incl. children: Sprig process pool c=2 vs Celery prefork c=2', 'MB', false, S.idleProcess, S.idleCelery, rss));
  }
  if (want('drain')) {
    rows.push(row('worker RSS under load, total incl. children (peak during the Redis drain): Sprig process pool c=2 vs Celery prefork c=2', 'MB', false, S.drainProcess, S.drainCelery, peakRss));
  }

  if (want('postgres')) {
    const D = P.drainN.toLocaleString('en-US');
    rows.push(row(`PostgreSQL enqueue single, ${P.inflight} in flight: Sprig sendTask vs graphile-worker addJob`, 'tasks/s', true, S.pgEnqSprigSingle, S.pgEnqGraphileSingle, rate));
    rows.push(row(`PostgreSQL enqueue single, ${P.inflight} in flight: Sprig sendTask vs pg-boss send`, 'tasks/s', true, S.pgEnqSprigSingle, S.pgEnqBossSingle, rate));
    rows.push(row(`PostgreSQL enqueue bulk x${P.bulk}: Sprig sendMany vs graphile-worker add_jobs()`, 'tasks/s', true, S.pgEnqSprigBulk, S.pgEnqGraphileBulk, rate));
    rows.push(row(`PostgreSQL enqueue bulk x${P.bulk}: Sprig sendMany vs pg-boss insert`, 'tasks/s', true, S.pgEnqSprigBulk, S.pgEnqBossBulk, rate));
    rows.push(row(`PostgreSQL drain ${D} no-op: Sprig async pool c=50 (ignoreResult, acksLate) vs graphile-worker concurrency=${PG_PEER_CONCURRENCY}`, 'tasks/s', true, S.pgDrainSprig, S.pgDrainGraphile, drainRate));
    rows.push(row(`PostgreSQL drain ${D} no-op: Sprig async pool c=50 (ignoreResult, acksLate) vs pg-boss work batchSize=${PG_PEER_BATCH}`, 'tasks/s', true, S.pgDrainSprig, S.pgDrainBoss, drainRate));
  }
  if (want('startup')) {
    const m = (k: keyof Startup) => (v: Startup) => median(v[k]);
    const R = `median of ${STARTUP_RUNS} fresh processes a run, a Sprig worker on the Redis db`;
    rows.push(row(`CLI start-up: sprig --version vs celery --version (${R})`, 'ms', false, S.startupSprig, S.startupCelery, m('version')));
    rows.push(row('CLI start-up: sprig call (asks the workers whether one knows the task) vs celery call', 'ms', false, S.startupSprig, S.startupCelery, m('call')));
    rows.push(row('CLI start-up: sprig inspect ping (ends once the known workers answered) vs celery inspect ping (its 1 s window)', 'ms', false, S.startupSprig, S.startupCelery, m('ping')));
    rows.push(row('CLI start-up: sprig inspect ping with nothing known (SPRIG_KNOWN_WORKERS=0: the 1 s window) vs celery inspect ping', 'ms', false, S.startupSprig, S.startupCelery, m('pingColdWindow')));
  }
  const table = printTable(rows, P.reps);
  console.log(`\n${table}\n`);
  const detail = (s: Series<Drain>) => s.values.map((d) => ({ rate: round(d.rate), rateWithStartup: round(d.rateWithStartup), startupMs: Math.round(d.startupMs), peakRssMB: round(d.peak.rss), peakPssMB: round(d.peak.pss), peakProcs: d.peak.procs }));
  const mem = (s: Series<MemSample>) => s.values.map((m) => ({ rssMB: round(m.rss), pssMB: round(m.pss), procs: m.procs }));
  const result = {
    generatedAt: new Date().toISOString(),
    quick: QUICK,
    runs: P.reps,
    params: P,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memGB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      redis: ((await redis.info('server')).match(/redis_version:(\S+)/) ?? [])[1],
      bullmq: (require('bullmq/package.json') as { version: string }).version,
      ...(want('postgres') ? { postgres: await postgresVersion(), graphileWorker: packageVersion('graphile-worker'), pgBoss: packageVersion('pg-boss') } : {}),
      celery: celery.version ?? null,
      rabbitmq: versionOf('rabbitmqctl', ['version']) ?? null,
    },
    rows,
    details: {
      drain: { sprigAsync: detail(S.drainAsync), bullmq: detail(S.drainBull), sprigProcess: detail(S.drainProcess), sprigProcessFixedWindow4: detail(S.drainProcessFixed), celery: detail(S.drainCelery) },
      amqp: { sprigAsync: detail(S.amqpAsync), sprigProcess: detail(S.amqpProcess), celery: detail(S.amqpCelery) },
      idle: { sprigAsync: mem(S.idleAsync), bullmq: mem(S.idleBull), sprigProcess: mem(S.idleProcess), celery: mem(S.idleCelery) },
      latency: {
        sprig: S.latSprig.values.map((xs) => ({ p50: round(p50(xs)), p90: round(percentile(xs, 90)), p99: round(p99(xs)), max: round(Math.max(...xs)) })),
        bullmq: S.latBull.values.map((xs) => ({ p50: round(p50(xs)), p90: round(percentile(xs, 90)), p99: round(p99(xs)), max: round(Math.max(...xs)) })),
      },
      startup: { sprig: S.startupSprig.values, celery: S.startupCelery.values },
      errors: Object.fromEntries(Object.values(S).filter((s) => s.errors.length).map((s) => [s.label, s.errors])),
    },
  };
  fs.writeFileSync(path.join(ROOT, 'bench-results.json'), JSON.stringify(result, null, 2) + '\n');
  log(`wrote bench-results.json (${result.seconds} s)`);
}

let exiting = false;
function cleanupAndExit(code: number): void {
  if (exiting) return;
  exiting = true;
  killAll();
  redis.disconnect();
  process.exit(code);
}
process.on('SIGINT', () => cleanupAndExit(130));
process.on('SIGTERM', () => cleanupAndExit(143));
main().then(
  () => cleanupAndExit(0),
  (err: unknown) => {
    console.error(err);
    cleanupAndExit(1);
  },
);

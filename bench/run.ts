// `npm run bench [-- --quick] [-- --profile] [-- --only enqueue,drain,latency,amqp,rss,postgres,startup,limit,thread,scale,eta,monitor] [-- --scale N]`
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
import { killAll, MemSampler, spawnGroup, stopGroup, treeCpuMs, treeMemory, type MemSample, type Proc } from './procs.js';
import { formatSummary, summarize } from './profile.js';
import { embeddedScale, type EmbeddedScale } from './embedded-scale.js';
import type { MonitorModelMemory } from './monitor-model.js';
import { drainBoss, drainGraphile, drainSprigPg, enqueueBoss, enqueueGraphile, enqueueSprigPg, packageVersion, postgresVersion } from './postgres.js';

// ---- settings ------------------------------------------------------------------------------

const ROOT = path.resolve(__dirname, '..');
const BENCH = __dirname;
const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const PROFILE = argv.includes('--profile');
const onlyArg = argv.find((a) => a.startsWith('--only='))?.slice(7) ?? (argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined);
const ONLY = onlyArg ? new Set(onlyArg.split(',')) : undefined;
/** Groups that take minutes (a large backlog, a VS Code host): run with `--only` only. */
const HEAVY = new Set(['scale', 'scale-redis', 'scale-embedded', 'eta', 'monitor']);
const GROUPS = new Set(['enqueue', 'drain', 'latency', 'amqp', 'rss', 'postgres', 'startup', 'limit', 'thread', ...HEAVY]);
for (const g of ONLY ?? []) if (!GROUPS.has(g)) throw new Error(`--only: unknown group ${JSON.stringify(g)}; the groups are ${[...GROUPS].join(', ')}`);
const scaleArg = argv.find((a) => a.startsWith('--scale='))?.slice(8) ?? (argv.includes('--scale') ? argv[argv.indexOf('--scale') + 1] : undefined);
/** The large backlog of the `scale` and `eta` groups (`--scale 1000000` for the 1M figures). */
const SCALE = scaleArg === undefined ? undefined : Number(scaleArg);
if (SCALE !== undefined && !(Number.isInteger(SCALE) && SCALE >= 1000)) throw new Error(`--scale wants a whole number of tasks >= 1000, e.g. --scale 1000000 (got ${scaleArg})`);

const REDIS_HOST = '127.0.0.1';
const REDIS_PORT = Number(process.env.BENCH_REDIS_PORT ?? 6379);
const DB = Number(process.env.BENCH_REDIS_DB ?? 9);
if (!Number.isInteger(DB) || DB <= 0) throw new Error(`BENCH_REDIS_DB must be a database index other than 0 (got ${process.env.BENCH_REDIS_DB})`);
const REDIS_URL = `redis://${REDIS_HOST}:${REDIS_PORT}/${DB}`;
/** kombu and Sprig spelling of vhost `/`. */
const AMQP_URL = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672//';
const PYTHON = '/usr/bin/python3';

const repsArg = argv.find((a) => a.startsWith('--reps='))?.slice(7) ?? (argv.includes('--reps') ? argv[argv.indexOf('--reps') + 1] : undefined);
if (repsArg !== undefined && !/^[1-9]\d*$/.test(repsArg)) throw new Error(`--reps wants a whole number of repetitions >= 1 (got ${repsArg})`);
const P0 = QUICK
  ? { reps: 1, enqueueN: 3000, drainN: 2000, amqpN: 2000, latencyN: 100, warmup: 10, inflight: 100, bulk: 1000 }
  : { reps: 3, enqueueN: 20000, drainN: 20000, amqpN: 20000, latencyN: 500, warmup: 20, inflight: 100, bulk: 1000 };
const P = repsArg === undefined ? P0 : { ...P0, reps: Number(repsArg) };
/** `scale`: the backlog measured besides drainN (--scale, default 200,000); `eta`: tasks scheduled an hour ahead. */
const SCALE_NS = [SCALE ?? (QUICK ? 20_000 : 200_000)];
const ETA_N = SCALE ?? (QUICK ? 20_000 : 200_000);
/** `monitor`: tasks fed through the extension host's monitor model (bench/monitor-model.ts). */
const MODEL_TASKS = SCALE ?? (QUICK ? 200_000 : 1_000_000);
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

type SprigPool = 'async' | 'process' | 'thread';

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

async function sprigSendMany(app: App, queue: string, n: number, batch = P.bulk, countdown?: number): Promise<void> {
  const options = countdown === undefined ? { queue, ignoreResult: true } : { queue, ignoreResult: true, countdown };
  for (let i = 0; i < n; i += batch) {
    const k = Math.min(batch, n - i);
    const calls = new Array(k);
    for (let j = 0; j < k; j++) calls[j] = { name: 'bench.noop', options };
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
  /** CPU ms (user + system) of the worker's process tree per 1,000 tasks, first task taken to last acknowledged. */
  cpuPer1k: number;
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
  let cpu0 = 0;
  let cpuEnd = 0;
  try {
    for (;;) {
      const now = performance.now();
      if (t0 === undefined && (await queued()) < n) {
        t0 = now;
        cpu0 = treeCpuMs(w.pid);
      }
      if (t0 !== undefined && (await remaining()) === 0) {
        tEnd = performance.now();
        cpuEnd = treeCpuMs(w.pid);
        break;
      }
      if (!w.isAlive()) throw new Error(`${w.name} exited during the drain: ${w.output().slice(-2000)}`);
      if (now - tSpawn > Math.max(DRAIN_TIMEOUT_MS, n * 2)) throw new Error(`${w.name}: drain not done after ${Math.round(now - tSpawn)} ms (${await remaining()} left)`);
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
    return { rate: (n / (tEnd - t0)) * 1000, rateWithStartup: (n / (tEnd - tSpawn)) * 1000, startupMs: t0 - tSpawn, peak, cpuPer1k: ((cpuEnd - cpu0) / n) * 1000 };
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
async function drainKombu(kind: 'sprig-async' | 'sprig-process' | 'sprig-process-fixed4' | 'sprig-thread' | 'celery', n: number, profileDir?: string): Promise<Drain> {
  await flush();
  const q = qname();
  // Celery's messages are sent by Sprig too (protocol v2, kombu's layout): the enqueue is not timed here.
  await withApp(REDIS_URL, (app) => sprigSendMany(app, q, n));
  const len = await redis.llen(q);
  if (len !== n) throw new Error(`expected ${n} messages, found ${len}`);
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const extra = kind === 'sprig-process-fixed4' ? ['--prefetch-multiplier', '4'] : [];
  const pool: SprigPool = kind === 'sprig-async' ? 'async' : kind === 'sprig-thread' ? 'thread' : 'process';
  const spawnW = kind === 'celery' ? () => celeryWorker(q, REDIS_URL) : () => sprigWorker(pool, q, REDIS_URL, nodeArgs, extra);
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

// ---- the limit: Redis itself ---------------------------------------------------------------

interface RedisLimit {
  lpush: number;
  rpop: number;
}

/** Messages the size of a kombu envelope (what one Sprig task is on the list). */
const ENVELOPE_BYTES = 750;

/**
 * Redis's own rate on this server: `redis-benchmark` pipelining LPUSH then RPOP of envelope-sized
 * values (50 connections, 50 commands a round trip) on the bench's db, so each Sprig row also reads
 * as a fraction of what the broker itself can do.
 */
async function redisLimit(n: number): Promise<RedisLimit> {
  await flush();
  const r = spawnSync('redis-benchmark', ['-h', REDIS_HOST, '-p', String(REDIS_PORT), '--dbnum', String(DB), '-t', 'lpush,rpop', '-n', String(n), '-P', '50', '-c', '50', '-d', String(ENVELOPE_BYTES), '--csv'], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`redis-benchmark exited ${r.status ?? r.signal}: ${(r.stderr || String(r.error)).slice(-500)}`);
  const rate = (cmd: string) => {
    const m = new RegExp(`^"${cmd}","([\\d.]+)"`, 'm').exec(r.stdout);
    if (!m) throw new Error(`redis-benchmark printed no ${cmd} rate: ${r.stdout.slice(0, 500)}`);
    return Number(m[1]);
  };
  await flush();
  return { lpush: rate('LPUSH'), rpop: rate('RPOP') };
}

// ---- scheduled work ------------------------------------------------------------------------

interface EtaMemory {
  idle: MemSample;
  /** The peak while it read them (garbage of the reading included). */
  loaded: MemSample;
  /** Settled, 1 s after the queue was read to the end. */
  settled: MemSample;
  /** Seconds from the first message taken to the queue read to the end. */
  readSec: number;
  parked: number;
}

/** Median of five tree samples 200 ms apart. */
async function settledMemory(pid: number): Promise<MemSample> {
  const samples: MemSample[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(treeMemory(pid));
    await sleep(200);
  }
  samples.sort((a, b) => a.rss - b.rss);
  return samples[2]!;
}

/**
 * `n` tasks with a one-hour countdown on Redis, a Sprig worker (async pool, default settings:
 * etaTaskLimit 5,000) reading them all: its RSS once the queue is read to the end against its own
 * idle RSS before (celery#3267: a Celery worker holds every ETA task in memory).
 */
async function etaMemory(n: number, extra: string[] = []): Promise<EtaMemory> {
  await flush();
  const q = qname();
  const since = Date.now();
  const w = sprigWorker('async', q, REDIS_URL, [], extra);
  try {
    await waitConsuming(w, since);
    await sleep(1000);
    const idle = await settledMemory(w.pid);
    const mem = new MemSampler(w.pid, 250);
    await withApp(REDIS_URL, (app) => sprigSendMany(app, q, n, P.bulk, 3600));
    const t0 = performance.now();
    // Read to the end: the queue is empty and all but the ones the worker holds are parked (a
    // message fetched is first in `unacked`, then moved to `_sprig.delayed`).
    const parkedAll = Math.max(0, n - 5000); // 5,000: the default etaTaskLimit on Redis (worker/eta-hold.ts)
    for (;;) {
      const [queued, parkedNow] = await Promise.all([redis.llen(q), redis.zcard('_sprig.delayed')]);
      if (queued === 0 && parkedNow >= parkedAll) break;
      if (!w.isAlive()) throw new Error(`${w.name} exited: ${w.output().slice(-2000)}`);
      if (performance.now() - t0 > Math.max(DRAIN_TIMEOUT_MS, n * 2)) throw new Error(`${w.name}: ${queued} scheduled messages still queued, ${parkedNow} of ${parkedAll} parked`);
      await sleep(50);
    }
    const readSec = (performance.now() - t0) / 1000;
    await sleep(1000);
    const settled = await settledMemory(w.pid);
    const peak = mem.stop();
    const loaded = peak.rss > settled.rss ? peak : settled;
    const parked = await redis.zcard('_sprig.delayed');
    const errs = workerErrors(w);
    if (errs) throw new Error(`${w.name} reported errors:\n${errs}`);
    return { idle, loaded, settled, readSec, parked };
  } finally {
    await stopGroup(w);
  }
}

/** The embedded broker's `scale` rows: each against its target, or against the same figure at 20k / idle. */
function embeddedRows(n: number, e: Series<EmbeddedScale>, ref: Series<EmbeddedScale>): Row[] {
  const M = n.toLocaleString('en-US');
  const v = e.values;
  const errs = e.errors;
  const compactions = v.flatMap((x) => x.compactions);
  const journal = v.length ? ` (journal ${Math.round(median(v.map((x) => x.journalMB)))} MB)` : '';
  return [
    rowOf(`drain ${M} no-op (embedded broker): Sprig async pool c=50 draining ${M} vs draining ${P.drainN.toLocaleString('en-US')} (target ratio >= 0.9)`, 'tasks/s', true, v.map((x) => x.rate), ref.values.map((x) => x.rate), errs, ref.errors),
    rowOf(`embedded broker restart with ${M} pending${journal}: spawn -> listening (journal replayed) vs the 5 s target`, 'ms', false, v.map((x) => x.readyMs), v.map(() => 5000), errs, errs, `with an empty journal: ${v.map((x) => Math.round(x.readyEmptyMs)).join(', ')} ms`),
    rowOf(`embedded broker RSS with ${M} pending (after the restart) vs its own idle RSS (empty journal)`, 'MB', false, v.map((x) => x.pendingRss), v.map((x) => x.idleRss), errs, errs),
    rowOf(`embedded broker RSS, peak while ${M} drain, vs its own idle RSS`, 'MB', false, v.map((x) => x.drainPeak.rss), v.map((x) => x.idleRss), errs, errs, `${compactions.length} compaction(s) during the drain${compactions.length ? `: ${compactions.map((c) => c.replace(/^.*journal compacted: /, '')).join('; ')}` : ''}`),
  ];
}

// ---- the monitor ---------------------------------------------------------------------------

interface MonitorRow {
  name: string;
  unit: string;
  value: number;
  target: string;
  met: boolean;
}

/** `bench/monitor.mjs` (the monitor webview under load in a real VS Code host): its figures as rows against their targets. */
function monitorRows(): MonitorRow[] {
  const r = spawnSync(process.execPath, [path.join(BENCH, 'monitor.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 900_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const file = path.join(ROOT, 'bench-monitor-results.json');
  if (r.status !== 0 || !fs.existsSync(file)) throw new Error(`bench/monitor.mjs exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout || '').slice(-800)}`);
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { rows: MonitorRow[] }).rows;
}

/** bench/monitor-model.ts in its own process (a fresh heap, --expose-gc), with the default eventsBuffer. */
function monitorModel(tasks: number): MonitorModelMemory {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(BENCH, 'monitor-model.ts'), String(tasks)], { cwd: ROOT, encoding: 'utf8', timeout: 900_000 });
  if (r.status !== 0) throw new Error(`bench/monitor-model.ts exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout || '').slice(-800)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as MonitorModelMemory;
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
  return rowOf(name, unit, higherIsBetter, (s.values as never[]).map(pick), (p.values as never[]).map(pick), s.errors, p.errors, notes);
}

/** A row from the measured values of each side (NaN: not measured) and each side's errors. */
function rowOf(name: string, unit: string, higherIsBetter: boolean, sAll: number[], pAll: number[], sErrors: readonly string[], pErrors: readonly string[], notes?: string): Row {
  const sv = sAll.filter((v) => Number.isFinite(v));
  const pv = pAll.filter((v) => Number.isFinite(v));
  const sm = sv.length ? median(sv) : null;
  const pm = pv.length ? median(pv) : null;
  const none = (e: readonly string[]) => (e.length ? e.slice(0, 1) : ['not measured in this run']);
  const errors = [...(sm === null ? none(sErrors).map((e) => `Sprig: ${e}`) : []), ...(pm === null ? none(pErrors).map((e) => `peer: ${e}`) : [])];
  return {
    name,
    sprig: sm === null ? null : round(sm),
    peer: pm === null ? null : round(pm),
    unit,
    ratio: sm === null || pm === null || !sm || !pm ? null : Math.round((higherIsBetter ? sm / pm : pm / sm) * 1000) / 1000,
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
  if (unit === 'ms' || unit === 'x') return v.toFixed(2);
  return v.toFixed(1);
}

function printTable(rows: Row[], k: number): string {
  const head = ['row', 'Sprig', 'peer', 'unit', 'ratio'];
  const body = rows.map((r) => [r.name, fmt(r.sprig, r.unit), fmt(r.peer, r.unit), r.unit, r.ratio === null ? (r.sprig !== null && r.peer !== null ? '-' : 'n/a') : `${r.ratio.toFixed(r.ratio < 0.1 ? 3 : 2)}x`]);
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
  const want = (s: string) => (ONLY ? ONLY.has(s) : !HEAVY.has(s));
  /** `scale` is both halves; `scale-redis` / `scale-embedded` one of them. */
  const wantScale = (half: 'redis' | 'embedded') => want('scale') || want(`scale-${half}`);
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
    redisLimit: new Series<RedisLimit>('Redis itself: redis-benchmark LPUSH/RPOP'),
    drainThread: new Series<Drain>('drain Sprig thread c=2'),
    idleThread: new Series<MemSample>('idle RSS Sprig thread'),
    eta: new Series<EtaMemory>(`${ETA_N} scheduled: Sprig async (default etaTaskLimit)`),
    monitor: new Series<MonitorRow[]>('monitor under load (bench/monitor.mjs)'),
    monitorModel: new Series<MonitorModelMemory>(`extension host monitor model, ${MODEL_TASKS} tasks seen (plain Node)`),
  };
  /** `scale`: per backlog size, Sprig async and BullMQ drains, and bulk enqueues. */
  /** `scale`, embedded broker: the 20k reference drain, and per backlog size the drain with restart and memory figures. */
  const embRef = new Series<EmbeddedScale>(`embedded broker ${P.drainN}: drain Sprig async c=50`);
  const emb = new Map(SCALE_NS.map((n) => [n, new Series<EmbeddedScale>(`embedded broker ${n}: RSS, restart, drain Sprig async c=50`)]));
  const scale = new Map(SCALE_NS.map((n) => [n, { async: new Series<Drain>(`drain ${n} Sprig async c=50`), bull: new Series<Drain>(`drain ${n} BullMQ c=50`), enqSprig: new Series<number>(`enqueue ${n} Sprig sendMany`), enqBull: new Series<number>(`enqueue ${n} BullMQ addBulk`) }]));

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
    if (want('limit')) await S.redisLimit.run(() => redisLimit(QUICK ? 100_000 : 1_000_000));
    if (want('thread')) {
      await S.drainThread.run(() => drainKombu('sprig-thread', P.drainN));
      await S.idleThread.run(() => idleMemory((q) => sprigWorker('thread', q)));
      // Its peer, in the same repetition, unless the drain group measured it already.
      if (!want('drain')) await S.drainBull.run(() => drainBull(P.drainN));
      if (!want('rss')) await S.idleBull.run(() => idleMemory((q) => bullWorker(q)));
    }
    if (wantScale('redis')) {
      // The 20k reference, in the same repetition, unless the drain group measured it already.
      if (!want('drain')) {
        await S.drainAsync.run(() => drainKombu('sprig-async', P.drainN));
        await S.drainBull.run(() => drainBull(P.drainN));
      }
      for (const [n, sc] of scale) {
        await sc.enqSprig.run(() => enqueueSprig('bulk', n));
        await sc.enqBull.run(() => enqueueBull('bulk', n));
        await sc.async.run(() => drainKombu('sprig-async', n));
        await sc.bull.run(() => drainBull(n));
      }
    }
    if (wantScale('embedded')) {
      await embRef.run(() => embeddedScale(P.drainN, P.bulk, false));
      for (const [n, e] of emb) await e.run(() => embeddedScale(n, P.bulk, true));
    }
    if (want('eta')) await S.eta.run(() => etaMemory(ETA_N));
    if (want('monitor') && rep === 1) {
      await S.monitorModel.run(async () => monitorModel(MODEL_TASKS));
      await S.monitor.run(async () => monitorRows());
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
  if (want('drain')) {
    const startup = (d: Drain) => d.startupMs;
    rows.push(row('worker start-up: spawn -> first task taken (Redis, queue full): Sprig process pool c=2 vs Celery prefork c=2', 'ms', false, S.drainProcess, S.drainCelery, startup));
    rows.push(row('worker start-up: spawn -> first task taken (Redis, queue full): Sprig async pool c=50 vs BullMQ Worker c=50', 'ms', false, S.drainAsync, S.drainBull, startup));
  }
  if (want('rss')) {
    // Per pool child: the tree's processes other than the worker itself (Celery: its forks).
    const perChild = (m: MemSample) => {
      const kids = m.procs.slice(1).filter((p) => p.rss > 5);
      return kids.length ? kids.reduce((a, p) => a + p.rss, 0) / kids.length : NaN;
    };
    const parent = (m: MemSample) => m.procs[0]?.rss ?? NaN;
    rows.push(row('worker RSS idle, the main process alone: Sprig process pool c=2 vs Celery prefork c=2', 'MB', false, S.idleProcess, S.idleCelery, parent));
    rows.push(row('worker RSS idle, per pool child: Sprig process pool child vs Celery prefork fork', 'MB', false, S.idleProcess, S.idleCelery, perChild));
  }
  if (want('limit')) {
    const lim = (k: keyof RedisLimit) => S.redisLimit.values.map((v) => v[k]);
    const note = "the ratio is the fraction of the broker's own rate (redis-benchmark -P 50 -c 50, 750-byte values)";
    if (want('enqueue')) rows.push(rowOf('the limit: enqueue bulk, Sprig sendMany x1000 vs Redis itself, pipelined LPUSH', 'tasks/s', true, S.enqSprigBulk.values, lim('lpush'), S.enqSprigBulk.errors, S.redisLimit.errors, note));
    const drained = S.drainAsync.values.map(drainRate);
    rows.push(rowOf(`the limit: drain ${N} no-op, Sprig async pool c=50 vs Redis itself, pipelined RPOP`, 'tasks/s', true, drained, lim('rpop'), S.drainAsync.errors, S.redisLimit.errors, note));
  }
  if (want('thread')) {
    rows.push(row(`drain ${N} no-op (Redis): Sprig thread pool c=2 (ignoreResult, acksLate) vs BullMQ Worker c=50 (removeOnComplete)`, 'tasks/s', true, S.drainThread, S.drainBull, drainRate));
    rows.push(row('worker RSS idle, total: Sprig thread pool c=2 vs BullMQ Worker process c=50', 'MB', false, S.idleThread, S.idleBull, rss));
    rows.push(row('worker RSS under load (peak during the Redis drain): Sprig thread pool c=2 vs BullMQ Worker process c=50', 'MB', false, S.drainThread, S.drainBull, peakRss));
  }
  if (wantScale('redis')) {
    const ref = (s: Series<Drain>) => (s.values.length ? median(s.values.map(drainRate)) : NaN);
    for (const [n, sc] of scale) {
      const M = n.toLocaleString('en-US');
      // The row: rate(n) / rate(20k), each side against its own 20k rate in this run.
      const rel = (big: Series<Drain>, base: Series<Drain>) => big.values.map((d) => d.rate / ref(base));
      rows.push(rowOf(`drain rate with a backlog of ${M} / with ${N} (Redis): Sprig async pool c=50 vs BullMQ Worker c=50 (1.00: no slower as the backlog grows)`, 'x', true, rel(sc.async, S.drainAsync), rel(sc.bull, S.drainBull), [...sc.async.errors, ...S.drainAsync.errors], [...sc.bull.errors, ...S.drainBull.errors]));
      // The same question in CPU per task, which a loaded machine does not skew between the two drains.
      const cpuRel = (big: Series<Drain>, base: Series<Drain>) => big.values.map((d) => median(base.values.map((b) => b.cpuPer1k)) / d.cpuPer1k);
      rows.push(rowOf(`worker CPU per task with a backlog of ${M} / with ${N} (Redis; 20k's CPU ms per 1,000 / ${M}'s): Sprig async pool c=50 vs BullMQ Worker c=50`, 'x', true, cpuRel(sc.async, S.drainAsync), cpuRel(sc.bull, S.drainBull), [...sc.async.errors, ...S.drainAsync.errors], [...sc.bull.errors, ...S.drainBull.errors]));
      rows.push(row(`drain ${M} no-op (Redis): Sprig async pool c=50 vs BullMQ Worker c=50`, 'tasks/s', true, sc.async, sc.bull, drainRate));
      rows.push(row(`enqueue ${M} bulk: Sprig sendMany x${P.bulk} vs BullMQ addBulk x${P.bulk}`, 'tasks/s', true, sc.enqSprig, sc.enqBull, rate));
      rows.push(row(`worker RSS under load, draining ${M}: Sprig async pool c=50 vs BullMQ Worker c=50`, 'MB', false, sc.async, sc.bull, peakRss));
    }
  }
  if (wantScale('embedded')) for (const [n, e] of emb) rows.push(...embeddedRows(n, e, embRef));
  if (want('eta')) {
    const E = ETA_N.toLocaleString('en-US');
    const name = `${E} tasks scheduled an hour ahead (Redis): Sprig async worker RSS once it read them all vs its own idle RSS (target ratio >= 0.5: at most 2x)`;
    rows.push(rowOf(name, 'MB', false, S.eta.values.map((v) => v.loaded.rss), S.eta.values.map((v) => v.idle.rss), S.eta.errors, S.eta.errors));
    rows.push(rowOf(`${E} tasks scheduled an hour ahead (Redis): Sprig async worker RSS settled (1 s after reading them all) vs its own idle RSS`, 'MB', false, S.eta.values.map((v) => v.settled.rss), S.eta.values.map((v) => v.idle.rss), S.eta.errors, S.eta.errors));
  }
  if (want('monitor')) {
    const mm = S.monitorModel.values;
    const T = MODEL_TASKS.toLocaleString('en-US');
    const buf = mm[0] ? `sprig.eventsBuffer ${mm[0].eventsBuffer.toLocaleString('en-US')}, ${mm[0].kept.toLocaleString('en-US')} tasks kept` : 'default sprig.eventsBuffer';
    const rssNote = mm.map((m) => `RSS ${m.rssBefore} -> ${m.rssAfter} MB (peak ${m.rssPeak}), ${m.seconds} s`).join('; ');
    rows.push(rowOf(`extension host monitor model (EventHub + ClusterState in plain Node, not a VS Code host), ${T} tasks seen (3 events each), ${buf}: heapUsed after vs before`, 'MB', false, mm.map((m) => m.heapAfter), mm.map((m) => m.heapBefore), S.monitorModel.errors, S.monitorModel.errors, rssNote));
    for (const m of S.monitor.values[0] ?? []) {
      rows.push({ name: `monitor under load (VS Code host): ${m.name}, against its target ${m.target}${m.met ? '' : ' (MISSED)'}`, sprig: m.value, peer: Number(m.target.replace(/[^\d.]/g, '')), unit: m.unit || 'n', ratio: null, runs: 1, notes: 'bench/monitor.mjs; the peer column is the target' });
    }
    if (S.monitor.errors.length) rows.push({ name: 'monitor under load (VS Code host)', sprig: null, peer: null, unit: '', ratio: null, runs: 0, error: S.monitor.errors[0] });
  }
  const table = printTable(rows, P.reps);
  console.log(`\n${table}\n`);
  const detail = (s: Series<Drain>) => s.values.map((d) => ({ rate: round(d.rate), rateWithStartup: round(d.rateWithStartup), startupMs: Math.round(d.startupMs), peakRssMB: round(d.peak.rss), peakPssMB: round(d.peak.pss), peakProcs: d.peak.procs, cpuMsPer1k: round(d.cpuPer1k) }));
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
      eta: S.eta.values.map((v) => ({ n: ETA_N, idleMB: round(v.idle.rss), peakMB: round(v.loaded.rss), settledMB: round(v.settled.rss), readSec: round(v.readSec), parked: v.parked })),
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

/**
 * The interop suite's world: real Python Celery 5.2 processes (Debian's python3-celery, always
 * run as `/usr/bin/python3 -m celery`) next to Sprig workers and clients, on Redis or RabbitMQ.
 * Every queue is `test-<uuid>`; cleanup removes the Redis keys and RabbitMQ queues made here.
 */
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { App } from '../../runtime/src/index.js';
import { createBroker } from '../../runtime/src/brokers/registry.js';
import { bindingKey, queueKeys, UNACKED_INDEX_KEY, UNACKED_KEY } from '../../runtime/src/brokers/redis/keys.js';
import { deadLetterQueueName } from '../../runtime/src/brokers/types.js';
import { parseJson, stringifyJson } from '../../runtime/src/serialization/json.js';
import type { AmqpBroker } from '../../runtime/src/brokers/amqp/amqp-broker.js';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'runtime', 'bin', 'sprig.js');
export const PYTHON = '/usr/bin/python3';
export const PYAPP = path.join(__dirname, 'pyapp');
export const SPRIG_TASKS = path.join(__dirname, 'fixtures', 'tasks.ts');
export const REDIS_URL = process.env.SPRIG_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
// Queue priorities on both sides, the way a team that uses them configures it: Celery's
// task_queue_max_priority = 10 (pyapp/app.py) and Sprig's ?queue_max_priority=10.
export const AMQP_PLAIN_URL = process.env.SPRIG_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672//';
export const AMQP_URL = `${AMQP_PLAIN_URL}?queue_max_priority=10`;
/** Results live in Redis in both cases (the Python clients' and workers' backend too). */
export const RESULT_BACKEND = REDIS_URL;

export type BrokerKind = 'redis' | 'amqp';
export const brokerUrl = (kind: BrokerKind) => (kind === 'redis' ? REDIS_URL : AMQP_URL);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until<T>(fn: () => T | Promise<T>, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** A child process whose stdout+stderr we can wait on. */
export class Proc {
  output = '';
  readonly exit: Promise<number | null>;
  private waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    const add = (d: Buffer) => {
      this.output += d.toString('utf8');
      for (const w of [...this.waiters]) w();
    };
    proc.stdout?.on('data', add);
    proc.stderr?.on('data', add);
    this.exit = new Promise((resolve) =>
      proc.on('exit', (code) => {
        for (const w of [...this.waiters]) w();
        resolve(code);
      }),
    );
  }

  get exited(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  /** Resolves with the first match of `re` in the output (past or future). */
  waitFor(re: RegExp, timeoutMs: number, what: string): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.output.match(re);
        if (m) return done(() => resolve(m));
        if (this.exited) done(() => reject(new Error(`${this.name} exited (${this.proc.exitCode ?? this.proc.signalCode}) before ${what}:\n${this.tail()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} from ${this.name}:\n${this.tail()}`))), timeoutMs);
      const done = (fn: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        fn();
      };
      this.waiters.add(check);
      check();
    });
  }

  tail(n = 3000): string {
    return this.output.length > n ? `...${this.output.slice(-n)}` : this.output;
  }

  /** SIGTERM (warm shutdown), then SIGKILL if it lingers. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 8000): Promise<void> {
    if (this.exited) return;
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exit;
    clearTimeout(t);
  }
}

export function spawnProc(name: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  const proc = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Proc(name, proc);
}

/** Run to completion; fails the test (rejects) after `timeoutMs`. */
export async function run(name: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  const p = spawnProc(name, cmd, args, opts);
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const code = await p.exit;
  clearTimeout(timer);
  return { code, output: p.output };
}

export interface PyCall {
  key: string;
  mode?: 'apply_async' | 'send_task';
  name: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: Record<string, unknown>;
}

export interface PyResult {
  id: string;
  state: string;
  result?: unknown;
  exc_type?: string;
  exc_module?: string;
  exc_args?: unknown[];
  /** The exception raised is Celery's own class (what `except celery.exceptions.X` catches). */
  celery_class?: boolean;
  /** AsyncResult.date_done as Python parsed it (isoformat), and the stored text. */
  date_done?: string;
  date_done_raw?: string;
  retries?: number | null;
}

/**
 * One interop world per broker: four queues (two a Sprig worker consumes, two a Celery worker
 * consumes), node names that carry the world's id, and everything to clean up afterwards.
 */
export class World {
  readonly id = randomUUID();
  readonly url: string;
  readonly queues = {
    sprig: `test-${randomUUID()}`,
    sprigAlt: `test-${randomUUID()}`,
    py: `test-${randomUUID()}`,
    pyAlt: `test-${randomUUID()}`,
  };
  readonly extraQueues: string[] = [];
  readonly sprigHost = `sprig-${this.id}@interop`;
  readonly pyHost = `py-${this.id}@interop`;
  /** Task ids whose results are removed at cleanup. */
  readonly taskIds = new Set<string>();
  private readonly procs: Proc[] = [];
  private readonly apps: App[] = [];
  sprigWorker?: Proc;
  celeryWorker?: Proc;

  constructor(readonly kind: BrokerKind) {
    this.url = brokerUrl(kind);
  }

  queue(): string {
    const q = `test-${randomUUID()}`;
    this.extraQueues.push(q);
    return q;
  }

  /** Environment for the Python app (test/interop/pyapp/app.py). */
  pyEnv(queue: string, backend: string | null = RESULT_BACKEND): NodeJS.ProcessEnv {
    // Python gets the URL without Sprig's own query options (kombu would refuse them).
    return { INTEROP_BROKER: this.url.split('?')[0]!, INTEROP_BACKEND: backend ?? '', INTEROP_QUEUE: queue, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' };
  }

  track(p: Proc): Proc {
    this.procs.push(p);
    return p;
  }

  /** `sprig worker` (events on; by default the async pool, one slot, prefetch 1) on `queues`. */
  startSprigWorker(opts: { queues?: string[]; hostname?: string; resultBackend?: string | null; pool?: string[] } = {}): Proc {
    const queues = opts.queues ?? [this.queues.sprig, this.queues.sprigAlt];
    const pool = opts.pool ?? ['-P', 'async', '-c', '1', '--prefetch-multiplier', '1'];
    const args = [CLI, 'worker', '--app', SPRIG_TASKS, '--broker', this.url, '-Q', queues.join(','), '-E', ...pool, '-n', opts.hostname ?? this.sprigHost, '-l', 'info', '--accept', 'json,msgpack,yaml'];
    const backend = opts.resultBackend === undefined ? RESULT_BACKEND : opts.resultBackend;
    if (backend) args.push('--result-backend', backend);
    return this.track(spawnProc(`sprig worker ${opts.hostname ?? this.sprigHost}`, process.execPath, args, { env: { SPRIG_LOG_LEVEL: 'info' } }));
  }

  async sprigWorkerReady(p: Proc): Promise<void> {
    await p.waitFor(/ ready: broker /, 20_000, 'the Sprig worker to be ready');
  }

  /**
   * `celery worker`, as a Python project runs it: the prefork pool (one child), events on. (Not
   * `-P threads`: there Celery 5.2 can hold a buffered task-succeeded event until its next task.) Gossip and mingle are off only to start faster (~1 s less);
   * heartbeats stay on: they carry the worker-online/-heartbeat events the tests look for.
   */
  startCeleryWorker(opts: { queues?: string[]; hostname?: string; backend?: string | null; env?: NodeJS.ProcessEnv } = {}): Proc {
    const queues = opts.queues ?? [this.queues.py, this.queues.pyAlt];
    const hostname = opts.hostname ?? this.pyHost;
    const args = ['-m', 'celery', '-A', 'app', 'worker', '-Q', queues.join(','), '-E', '-n', hostname, '-P', 'prefork', '-c', '1', '--without-gossip', '--without-mingle', '-l', 'info'];
    return this.track(spawnProc(`celery worker ${hostname}`, PYTHON, args, { cwd: PYAPP, env: { ...this.pyEnv(queues[0]!, opts.backend === undefined ? RESULT_BACKEND : opts.backend), ...opts.env } }));
  }

  async celeryWorkerReady(p: Proc, hostname = this.pyHost, timeoutMs = 30_000): Promise<void> {
    await p.waitFor(new RegExp(`${escapeRe(hostname)} ready\\.`), timeoutMs, 'the Celery worker to be ready');
  }

  /**
   * Run test/interop/pyapp/client.py: it sends every call, reports their ids (`onSent`, so the
   * test can start a worker only then), and waits for each result with AsyncResult.get().
   */
  async pyClient(
    calls: PyCall[],
    opts: { queue?: string; backend?: string; timeout?: number; onSent?: (sent: Record<string, { id: string; sent_at: number }>) => void | Promise<void> } = {},
  ): Promise<{ sent: Record<string, { id: string; sent_at: number }>; results: Record<string, PyResult> }> {
    const client = this.pyScript('client.py', { timeout: opts.timeout ?? 20, calls }, opts.queue ?? this.queues.sprig, opts.backend);
    const sentLine = await client.waitFor(/^\{"sent": .*$/m, 30_000, 'the Python client to send');
    const sent = (parseJson(sentLine[0]) as { sent: Record<string, { id: string; sent_at: number }> }).sent;
    for (const s of Object.values(sent)) this.taskIds.add(s.id);
    await opts.onSent?.(sent);
    const resultsLine = await client.waitFor(/^\{"results": .*$/m, ((opts.timeout ?? 20) + 15) * 1000, 'the Python client to get its results');
    await client.exit;
    // parseJson: Python's integers past 2**53 come back exactly.
    return { sent, results: (parseJson(resultsLine[0]) as { results: Record<string, PyResult> }).results };
  }

  /** A script of test/interop/pyapp, run with the app's environment for `queue`, `spec` as JSON on its stdin. */
  pyScript(script: string, spec: unknown, queue: string, backend = RESULT_BACKEND): Proc {
    const env = { ...process.env, ...this.pyEnv(queue, backend) };
    const proc = spawn(PYTHON, [script], { cwd: PYAPP, env, stdio: ['pipe', 'pipe', 'pipe'] });
    proc.stdin!.end(stringifyJson(spec));
    return this.track(new Proc(`python ${script}`, proc));
  }

  /** `/usr/bin/python3 -m celery -A app <args>` (inspect, control, ...). */
  celery(args: string[], timeoutMs = 20_000) {
    return run('celery', PYTHON, ['-m', 'celery', '-A', 'app', ...args], { cwd: PYAPP, env: this.pyEnv(this.queues.sprig), timeoutMs });
  }

  /** `node runtime/bin/sprig.js <args> --broker URL`. */
  sprig(args: string[], timeoutMs = 20_000) {
    return run('sprig', process.execPath, [CLI, ...args, '--broker', this.url], { timeoutMs });
  }

  /** A Sprig client app whose default queue is the one the Celery worker consumes. */
  app(opts: { defaultQueue?: string; resultBackend?: string | null; brokerUrl?: string } = {}): App {
    const backend = opts.resultBackend === undefined ? RESULT_BACKEND : opts.resultBackend;
    const app = new App({ brokerUrl: opts.brokerUrl ?? this.url, ...(backend ? { resultBackend: backend } : {}), defaultQueue: opts.defaultQueue ?? this.queues.py });
    this.apps.push(app);
    return app;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
    for (const a of this.apps) await a.close().catch(() => undefined);
    const queues = [...Object.values(this.queues), ...this.extraQueues];
    const redis = new Redis(REDIS_URL);
    try {
      const keys = new Set<string>();
      for (const q of queues) {
        for (const k of queueKeys(q)) keys.add(k);
        keys.add(bindingKey(q));
        keys.add(deadLetterQueueName(q));
      }
      for (const id of this.taskIds) keys.add(`celery-task-meta-${id}`);
      if (keys.size) await redis.del(...keys);
      // Nothing of ours should be held any more; drop stale unacked entries of our queues.
      const held = await redis.hgetall(UNACKED_KEY);
      const ours = Object.entries(held)
        .filter(([, v]) => queues.some((q) => v.includes(`"${q}"`)))
        .map(([tag]) => tag);
      if (ours.length) await redis.pipeline().hdel(UNACKED_KEY, ...ours).zrem(UNACKED_INDEX_KEY, ...ours).exec();
    } finally {
      redis.disconnect();
    }
    if (this.kind === 'amqp') {
      const broker = (await createBroker(this.url)) as AmqpBroker;
      await broker.connect();
      try {
        for (const q of queues) await broker.deleteQueue(q);
      } finally {
        await broker.close();
      }
    }
  }
}

export function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

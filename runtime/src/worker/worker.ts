import * as os from 'node:os';
import * as path from 'node:path';
import { EventEmitter } from 'node:events';
import { resolveConfig, type PoolKind, type SprigConfig } from '../app/config.js';
import type { Broker } from '../brokers/types.js';
import type { ResultBackend } from '../backends/types.js';
import type { EventDispatcher } from '../events/dispatcher.js';
import { getTask, registeredTaskNames } from '../app/registry.js';
import { ConfigError } from '../errors.js';
import { BASE_MULTIPLIER } from './prefetch.js';
import { createLogger, type Logger, type LogLevel } from '../util/log.js';
import { Blueprint, type Step } from './blueprint.js';
import type { Pool } from './pool/types.js';
import type { TaskConsumer } from './consumer.js';
import { RateLimiter } from './rate-limit.js';
import { loadTasksBundle, type TasksBundle } from './tasks-bundle.js';
import { defaultSteps } from './steps/index.js';
import { Autoscaler } from './autoscale.js';
import type { Autoreloader } from './autoreload.js';

export interface WorkerOptions {
  /** The tasks file (.ts or .js). */
  app?: string;
  config?: SprigConfig;
  /** Extra bootsteps (also: `export const bootsteps = [...]` in the tasks file). */
  steps?: Step<Worker>[];
  logLevel?: LogLevel;
  /** Where log lines go (default stderr). */
  logWrite?: (line: string) => void;
}

export interface WorkerStats {
  processed: number;
  succeeded: number;
  failed: number;
  retried: number;
  rejected: number;
}

const POOLS: readonly PoolKind[] = ['process', 'thread', 'async'];

/** A worker: a blueprint of steps (connection, events, pool, user steps, consumer, heartbeat). */
export class Worker extends EventEmitter {
  config: SprigConfig = {};
  broker!: Broker;
  backend!: ResultBackend;
  pool!: Pool;
  events!: EventDispatcher;
  consumer!: TaskConsumer;
  bundle?: TasksBundle;
  heartbeatTimer?: NodeJS.Timeout;
  /** Send a worker-heartbeat now (set by the heartbeat step). */
  sendHeartbeat: () => void = () => undefined;
  readonly log: Logger;
  readonly stats: WorkerStats = { processed: 0, succeeded: 0, failed: 0, retried: 0, rejected: 0 };
  /** Revoked task ids, kept for the worker's lifetime. */
  readonly revoked = new Set<string>();
  /** Running tasks stopped by `revoke --terminate`, with the signal asked for. */
  readonly terminated = new Map<string, string>();
  /** Per task type time limits set at run time (`control time_limit`). */
  readonly timeLimits = new Map<string, { hard: number | null; soft: number | null }>();
  /** Tasks run, by name (inspect stats). */
  readonly totals = new Map<string, number>();
  controlOff?: () => Promise<void>;
  autoscaler?: Autoscaler;
  autoreloader?: Autoreloader;
  readonly rateLimits = new RateLimiter();
  hostname = '';
  concurrency = 1;
  /** Prefetch multiplier now in force (it changes when adaptive). */
  prefetchMultiplier = 4;
  /** No multiplier was set: the window adapts to task runtime (prefetch.ts). */
  prefetchAdaptive = true;
  poolKind: PoolKind = 'process';
  queues: string[] = ['celery'];
  acksLate = false;
  sendEvents = false;
  /** Set for a cold shutdown: stop without waiting for running tasks. */
  cold = false;
  tasksFile?: string;
  private blueprint?: Blueprint<Worker>;
  private stopping?: Promise<void>;

  constructor(private readonly opts: WorkerOptions = {}) {
    super();
    this.log = createLogger('worker', opts.logLevel, opts.logWrite);
  }

  async start(): Promise<void> {
    const c = (this.config = await resolveConfig(this.opts.config ?? {}));
    const wc = c.worker ?? {};
    this.poolKind = wc.pool ?? 'process';
    if (!POOLS.includes(this.poolKind)) throw new ConfigError(`unknown pool ${JSON.stringify(this.poolKind)}: use process, thread or async`);
    this.concurrency = wc.concurrency ?? (wc.autoscale ? Math.max(1, wc.autoscale[1]) : this.poolKind === 'async' ? 50 : os.availableParallelism());
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new ConfigError(`concurrency must be a positive integer, got ${wc.concurrency}`);
    this.prefetchMultiplier = wc.prefetchMultiplier ?? BASE_MULTIPLIER;
    this.prefetchAdaptive = wc.prefetchMultiplier === undefined;
    if (!Number.isInteger(this.prefetchMultiplier) || this.prefetchMultiplier < 1) throw new ConfigError(`prefetchMultiplier must be a positive integer, got ${wc.prefetchMultiplier}`);
    this.queues = wc.queues?.length ? wc.queues : [c.defaultQueue ?? 'celery'];
    this.acksLate = wc.acksLate ?? false;
    this.sendEvents = wc.events ?? false;
    this.hostname = wc.hostname ?? `sprig${process.pid}@${os.hostname()}`;
    if (this.opts.app) {
      this.tasksFile = path.resolve(this.opts.app);
      this.bundle = await loadTasksBundle(this.tasksFile);
    }
    this.applyTaskRateLimits();
    const steps = defaultSteps([...(this.bundle?.userSteps ?? []), ...(this.opts.steps ?? [])]);
    this.blueprint = new Blueprint(steps, (level, msg) => this.log[level](msg));
    try {
      await this.blueprint.start(this);
    } catch (err) {
      await this.blueprint.stop(this);
      this.bundle?.dispose();
      throw err;
    }
    this.log.notice(
      `${this.hostname} ready: broker ${this.broker.displayUrl}, pool ${this.poolKind} x${this.concurrency}, queues ${this.queues.join(',')}, ` +
        `tasks [${registeredTaskNames().join(', ')}]${this.sendEvents ? ', events on' : ''}`,
    );
    this.emit('ready');
  }

  /** Rate limits declared in task options (again after an autoreload). */
  applyTaskRateLimits(): void {
    for (const name of registeredTaskNames()) {
      const rate = getTask(name)?.options.rateLimit;
      if (rate) this.rateLimits.set(name, rate);
    }
  }

  /** Set or change autoscaling: the pool grows up to `max` when tasks wait, shrinks to `min` when idle. */
  setAutoscale(max: number, min: number): void {
    if (!this.autoscaler) this.autoscaler = new Autoscaler(this);
    this.autoscaler.set(max, min);
  }

  /** stop() was called (a start still connecting gives up). */
  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** Warm shutdown (finish running tasks) unless `cold`. Safe to call twice. */
  stop(opts: { cold?: boolean } = {}): Promise<void> {
    if (opts.cold && !this.cold) {
      this.cold = true;
      // A second signal during a warm shutdown: stop running tasks now (acks-late ones are not acked).
      if (this.stopping) void this.pool?.stop(false);
    }
    return (this.stopping ??= (async () => {
      this.log.info(this.cold ? 'cold shutdown' : 'warm shutdown: finishing running tasks (signal again to exit at once)');
      this.autoscaler?.stop();
      const t = this.config.worker?.shutdownTimeout;
      if (!this.cold && t) {
        setTimeout(() => {
          if (!this.blueprint) return;
          this.log.warn(`warm shutdown did not finish within ${t}s: cold shutdown`);
          this.cold = true;
          void this.pool?.stop(false);
        }, t * 1000).unref();
      }
      await this.blueprint?.stop(this);
      this.rateLimits.clear();
      this.bundle?.dispose();
      this.emit('stopped');
    })());
  }
}

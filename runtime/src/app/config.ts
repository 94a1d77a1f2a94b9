import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../errors.js';
import { findProjectDir } from '../util/paths.js';
import type { SigningConfig } from '../serialization/signed.js';
import type { CatchUpPolicy, ScheduleDefinition } from './schedule.js';

export type PoolKind = 'process' | 'thread' | 'async';

export interface WorkerConfig {
  concurrency?: number;
  pool?: PoolKind;
  prefetchMultiplier?: number;
  queues?: string[];
  events?: boolean;
  acksLate?: boolean;
  hostname?: string;
  timeLimit?: number;
  softTimeLimit?: number;
  maxTasksPerChild?: number;
  maxMemoryPerChild?: number;
  /** [max, min] pool size for autoscaling. */
  autoscale?: [number, number];
  /** Seconds a warm shutdown waits for running tasks before going cold. */
  shutdownTimeout?: number;
  /** Watch the tasks file and its imports; reload on change. */
  autoreload?: boolean;
  /** Serve Prometheus metrics on HOST:PORT (or PORT, on 127.0.0.1). */
  metrics?: string;
  /**
   * At most this many ETA/countdown tasks held in the worker's memory (Celery 5.6's
   * `worker_eta_task_limit`). Default: 5,000 on Redis, where the later ones are parked on the
   * broker until due; unbounded on the others (docs/eta.md).
   */
  etaTaskLimit?: number;
}

/** `sprig beat` (docs/beat.md). */
export interface BeatConfig {
  /** Entries, merged with the tasks file's `schedule` export (a name in both is an error). */
  schedule?: ScheduleDefinition;
  /** Runs missed while no scheduler ran: 'latest' (default: one run, as Celery), 'all' (each, up to maxCatchUp), 'skip'. */
  catchUp?: CatchUpPolicy;
  /** At most this many missed runs per entry are sent with catchUp 'all' (the latest ones). Default 100. */
  maxCatchUp?: number;
  /** Seconds the active scheduler's lease lasts unless renewed (renewed every third of it). Default 10. */
  leaseTtl?: number;
  /** One active scheduler per broker per name (default 'default'); its lease and last runs are kept under it. */
  name?: string;
  /** Timezone of crontab entries without their own (IANA name). Default 'UTC'. */
  timezone?: string;
}

/** Settings, from `sprig.config.{ts,js,json}`, the environment, `configure()` or CLI flags. */
export interface SprigConfig {
  brokerUrl?: string;
  /** Result backend URL (redis://...). Default: the broker itself. */
  resultBackend?: string;
  projectDir?: string;
  defaultQueue?: string;
  taskSerializer?: string;
  /** Content types or serializer names a worker accepts (default: ['json']). */
  accept?: string[];
  compression?: string;
  compressionThreshold?: number;
  /** Seconds results are kept (default 86400). */
  resultExpires?: number;
  /** Clients send task-sent events. */
  sendSentEvent?: boolean;
  /** Largest message body a worker decodes, bytes. */
  maxMessageBytes?: number;
  /** Redis visibility timeout, seconds. */
  visibilityTimeout?: number;
  /** What dead-letter queues keep: bytes of each rejected message (default 65536) and entries per queue (default 10000). */
  deadLetter?: { maxBytes?: number; maxLength?: number };
  /** A worker whose broker is unreachable at start retries (Celery's `broker_connection_retry_on_startup`, default true). */
  brokerConnectionRetryOnStartup?: boolean;
  /** How many times it retries before giving up; 0: forever (Celery's `broker_connection_max_retries`, default 100). */
  brokerConnectionMaxRetries?: number;
  /**
   * Celery's `broker_transport_options`, with kombu's option names: for `sentinel://` URLs
   * `{ master_name: 'mymaster', sentinel_kwargs: { password } }` (see docs/high-availability.md).
   */
  brokerTransportOptions?: Record<string, unknown>;
  /** Celery's `result_backend_transport_options` (the same names, for a `sentinel://` result backend). */
  resultBackendTransportOptions?: Record<string, unknown>;
  /** Celery 5.5's `task_default_queue_type`: 'quorum' declares RabbitMQ task queues as quorum queues. */
  taskDefaultQueueType?: 'classic' | 'quorum';
  /** Signed messages (the 'signed' serializer): key, its id, trusted public keys. */
  signing?: SigningConfig;
  worker?: WorkerConfig;
  beat?: BeatConfig;
}

const CONFIG_FILES = ['sprig.config.ts', 'sprig.config.js', 'sprig.config.json'];

export function findConfigFile(projectDir: string): string | undefined {
  for (const f of CONFIG_FILES) {
    const p = path.join(projectDir, f);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

/** Loads the project's config file, if any. TS/JS configs are built with esbuild like task files. */
export async function loadConfigFile(projectDir: string): Promise<{ file?: string; config: SprigConfig }> {
  const file = findConfigFile(projectDir);
  if (!file) return { config: {} };
  if (file.endsWith('.json')) {
    try {
      return { file, config: JSON.parse(fs.readFileSync(file, 'utf8')) as SprigConfig };
    } catch (err) {
      throw new ConfigError(`${file}: not valid JSON: ${(err as Error).message}`);
    }
  }
  const { loadModule } = await import('./loader.js');
  const mod = (await loadModule(file)).exports as { default?: SprigConfig; config?: SprigConfig };
  const config = mod.default ?? mod.config;
  if (!config || typeof config !== 'object') {
    throw new ConfigError(`${file}: export the settings as \`export default { brokerUrl: ... }\``);
  }
  return { file, config };
}

export interface ResolveConfigOptions {
  /**
   * False: the project's sprig.config.* is not read, the rest of the order holds. A TS/JS config is
   * code: an editor must not run it in a workspace it does not trust (and does not take a broker URL
   * from an untrusted workspace's JSON either). Default true.
   */
  configFile?: boolean;
}

/**
 * The broker comes from: --broker URL > SPRIG_BROKER_URL > sprig.config > the embedded default.
 */
export async function resolveConfig(overrides: SprigConfig = {}, cwd = process.cwd(), opts: ResolveConfigOptions = {}): Promise<SprigConfig> {
  const projectDir = overrides.projectDir ?? findProjectDir(cwd);
  const { config: fileConfig } = opts.configFile === false ? { config: {} as SprigConfig } : await loadConfigFile(projectDir);
  const env: SprigConfig = {};
  if (process.env.SPRIG_BROKER_URL) env.brokerUrl = process.env.SPRIG_BROKER_URL;
  if (process.env.SPRIG_RESULT_BACKEND) env.resultBackend = process.env.SPRIG_RESULT_BACKEND;
  const merged: SprigConfig = { ...fileConfig, ...env, ...stripUndefined(overrides), projectDir };
  merged.worker = { ...fileConfig.worker, ...stripUndefined(overrides.worker ?? {}) };
  merged.beat = { ...fileConfig.beat, ...stripUndefined(overrides.beat ?? {}) };
  if (fileConfig.deadLetter || overrides.deadLetter) merged.deadLetter = { ...fileConfig.deadLetter, ...stripUndefined(overrides.deadLetter ?? {}) };
  merged.brokerUrl ??= 'sprig://';
  return merged;
}

/** The broker options that come from the settings (one place for the worker and the clients). */
export function brokerOptionsOf(c: SprigConfig): {
  projectDir?: string;
  visibilityTimeout?: number;
  deadLetter?: SprigConfig['deadLetter'];
  transportOptions?: Record<string, unknown>;
  defaultQueueType?: string;
} {
  return { projectDir: c.projectDir, visibilityTimeout: c.visibilityTimeout, deadLetter: c.deadLetter, transportOptions: c.brokerTransportOptions, defaultQueueType: c.taskDefaultQueueType };
}

/** Celery's default `broker_connection_max_retries`. */
export const DEFAULT_BROKER_CONNECTION_MAX_RETRIES = 100;

/** The startup retry settings, checked: how many retries (0: forever), or undefined when it must not retry. */
export function startupRetries(c: SprigConfig): number | undefined {
  const on = c.brokerConnectionRetryOnStartup ?? true;
  if (typeof on !== 'boolean') throw new ConfigError(`brokerConnectionRetryOnStartup must be true or false, got ${JSON.stringify(on)}`);
  const n = c.brokerConnectionMaxRetries ?? DEFAULT_BROKER_CONNECTION_MAX_RETRIES;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw new ConfigError(`brokerConnectionMaxRetries must be an integer >= 0 (0: retry forever), got ${JSON.stringify(n)}`);
  }
  return on ? n : undefined;
}

export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Typed helper for `sprig.config.ts`. */
export function defineConfig(config: SprigConfig): SprigConfig {
  return config;
}

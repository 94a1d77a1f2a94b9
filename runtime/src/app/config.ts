import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../errors.js';
import { findProjectDir } from '../util/paths.js';
import type { SigningConfig } from '../serialization/signed.js';

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
  merged.brokerUrl ??= 'sprig://';
  return merged;
}

export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Typed helper for `sprig.config.ts`. */
export function defineConfig(config: SprigConfig): SprigConfig {
  return config;
}

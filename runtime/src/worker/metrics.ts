/**
 * Prometheus metrics for one worker (`sprig worker --metrics 127.0.0.1:9808`). Task counts and
 * runtimes come from the worker's own events (seen locally even with -E off); queue lengths,
 * reserved and pool figures are read at scrape time, so they are never stale.
 */
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Counter, Histogram, Registry } from 'prom-client';
import { ConfigError } from '../errors.js';
import type { SprigEvent } from '../events/types.js';
import type { Step } from './blueprint.js';
import type { Worker } from './worker.js';

export const DEFAULT_METRICS_HOST = '127.0.0.1';

/** "9808", ":9808", "127.0.0.1:9808", "[::1]:9808" -> host and port (host defaults to loopback). */
export function parseMetricsAddress(s: string): { host: string; port: number } {
  const spec = s.trim();
  const m = /^(?:\[([^\]]+)\]:|([^:[\]]*):)?(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ConfigError(`--metrics expects HOST:PORT or PORT (e.g. 127.0.0.1:9808), got ${JSON.stringify(s)}`);
  }
  return { host: m[1] ?? (m[2] || DEFAULT_METRICS_HOST), port };
}

const EVENT_STATE: Partial<Record<SprigEvent['type'], string>> = {
  'task-received': 'received',
  'task-started': 'started',
  'task-succeeded': 'succeeded',
  'task-failed': 'failed',
  'task-retried': 'retried',
  'task-revoked': 'revoked',
  'task-rejected': 'rejected',
};

const TERMINAL = new Set(['task-succeeded', 'task-failed', 'task-revoked', 'task-rejected']);
const MAX_NAMES = 10_000;

/**
 * prom-client (and the @opentelemetry/api it loads), and node:http below, only for a worker started
 * with --metrics: every other `sprig` command starts without them (about 60 ms on a 2-core machine).
 */
function promClient(): typeof import('prom-client') {
  return require('prom-client') as typeof import('prom-client');
}

export class WorkerMetrics {
  readonly registry: Registry;
  private server?: http.Server;
  private unsubscribe?: () => void;
  /** uuid -> task name, for events that carry only the uuid (bounded). */
  private readonly names = new Map<string, string>();
  private readonly tasks: Counter<'name' | 'state'>;
  private readonly runtime: Histogram<'name'>;
  private readonly reconnects: Counter;

  constructor(private readonly w: Worker) {
    const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = promClient();
    this.registry = new Registry();
    const labels = { worker: w.hostname };
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry, prefix: 'sprig_' });
    this.tasks = new Counter({ name: 'sprig_tasks_total', help: 'Tasks by name and state (event seen by this worker)', labelNames: ['name', 'state'], registers: [this.registry] });
    this.runtime = new Histogram({
      name: 'sprig_task_runtime_seconds',
      help: 'Task run time, from start to success or failure',
      labelNames: ['name'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [this.registry],
    });
    this.reconnects = new Counter({ name: 'sprig_broker_reconnects_total', help: 'Broker connections re-established', registers: [this.registry] });
    const worker = w;
    new Gauge({
      name: 'sprig_queue_length',
      help: 'Messages waiting in each consumed queue (read from the broker at scrape time)',
      labelNames: ['queue'],
      registers: [this.registry],
      async collect() {
        await Promise.all(
          worker.queues.map(async (q) => {
            try {
              this.set({ queue: q }, await worker.broker.queueLength(q));
            } catch {
              // A scrape during a broker outage reports the other metrics rather than failing.
            }
          }),
        );
      },
    });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    gauge('sprig_tasks_active', 'Tasks running in the pool', () => worker.consumer?.running().length ?? 0);
    gauge('sprig_tasks_reserved', 'Tasks prefetched and waiting for a pool slot', () => worker.consumer?.reserved().length ?? 0);
    gauge('sprig_tasks_scheduled', 'ETA/countdown tasks held until their time', () => worker.consumer?.scheduled.size ?? 0);
    gauge('sprig_pool_size', 'Pool slots (concurrency)', () => worker.pool?.size ?? 0);
    gauge('sprig_pool_free', 'Free pool slots', () => worker.pool?.free ?? 0);
    gauge('sprig_prefetch_limit', 'Messages this worker may hold unacknowledged (pool size x the current, possibly adaptive, multiplier; plus held ETA tasks)', () => worker.consumer?.prefetchCount() ?? worker.concurrency * worker.prefetchMultiplier);
  }

  private nameOf(e: SprigEvent & { uuid?: string | null }): string {
    const fromEvent = (e as { name?: unknown }).name;
    if (typeof fromEvent === 'string' && fromEvent) return fromEvent;
    const uuid = e.uuid ?? '';
    return this.names.get(uuid) ?? this.w.consumer?.active.get(uuid)?.req.name ?? 'unknown';
  }

  onEvent(e: SprigEvent): void {
    const state = EVENT_STATE[e.type];
    if (!state) return;
    const uuid = (e as { uuid?: string | null }).uuid ?? null;
    const name = this.nameOf(e as SprigEvent & { uuid?: string | null });
    if (uuid && e.type === 'task-received') {
      if (this.names.size >= MAX_NAMES) this.names.delete(this.names.keys().next().value!);
      this.names.set(uuid, name);
    }
    this.tasks.inc({ name, state });
    if (e.type === 'task-succeeded') this.runtime.observe({ name }, e.runtime);
    else if (e.type === 'task-failed' && uuid) {
      const started = this.w.consumer?.active.get(uuid)?.startedAt;
      if (started) this.runtime.observe({ name }, (Date.now() - started) / 1000);
    }
    if (uuid && TERMINAL.has(e.type)) this.names.delete(uuid);
  }

  /** Subscribe to the worker's events and the broker's reconnects. */
  attach(): void {
    this.unsubscribe = this.w.events.onSend((e) => this.onEvent(e));
    this.w.broker.on?.('reconnect', () => this.reconnects.inc());
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const server = (require('node:http') as typeof http).createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (url !== '/metrics') {
        res.writeHead(url === '/' ? 200 : 404, { 'content-type': 'text/plain; charset=utf-8' }).end(url === '/' ? 'sprig worker metrics: GET /metrics\n' : 'not found\n');
        return;
      }
      this.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': this.registry.contentType });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${err.message}\n`);
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new ConfigError(`--metrics ${host}:${port}: cannot listen (${err.code ?? err.message})`, { cause: err })),
      );
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  get address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
    this.registry.clear();
  }
}

const byWorker = new WeakMap<Worker, WorkerMetrics>();

/** The metrics of a running worker (undefined when --metrics is off). */
export function workerMetrics(w: Worker): WorkerMetrics | undefined {
  return byWorker.get(w);
}

export const metricsStep: Step<Worker> = {
  name: 'metrics',
  requires: ['connection', 'events'],
  async start(w) {
    const spec = w.config.worker?.metrics;
    if (!spec) return;
    const { host, port } = parseMetricsAddress(spec);
    const m = new WorkerMetrics(w);
    m.attach();
    const addr = await m.listen(host, port);
    byWorker.set(w, m);
    const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    w.log.info(`metrics on http://${shown}:${addr.port}/metrics`);
  },
  async stop(w) {
    await byWorker.get(w)?.close();
    byWorker.delete(w);
  },
};

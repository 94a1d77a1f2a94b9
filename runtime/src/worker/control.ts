/**
 * Remote control commands a worker answers (Celery's control Panel): inspect (read-only) and
 * control (changes). Each handler returns the value replied as `{ <hostname>: value }`.
 */
import * as os from 'node:os';
import { registeredTaskNames } from '../app/registry.js';
import type { Worker } from './worker.js';
import type { Request } from './consumer.js';
import { toCeleryIso } from '../protocol/time.js';
import { parseRate } from './rate-limit.js';
import { VERSION } from '../version.js';

type Handler = (w: Worker, args: Record<string, unknown>) => unknown | Promise<unknown>;

function requestInfo(w: Worker, r: Request, started: boolean) {
  return {
    id: r.req.id,
    name: r.req.name,
    args: r.req.args,
    kwargs: r.req.kwargs,
    type: r.req.name,
    hostname: w.hostname,
    time_start: started && r.startedAt ? r.startedAt / 1000 : null,
    acknowledged: r.acked,
    delivery_info: { exchange: '', routing_key: r.delivery.queue, priority: r.req.priority, redelivered: r.delivery.redelivered },
    worker_pid: started ? r.workerPid ?? null : null,
  };
}

function ids(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string') return [v];
  return [];
}

const started = Date.now();

export const inspectCommands: Record<string, Handler> = {
  ping: () => ({ ok: 'pong' }),
  active: (w) => w.consumer.running().map((r) => requestInfo(w, r, true)),
  reserved: (w) => w.consumer.reserved().map((r) => requestInfo(w, r, false)),
  /** Celery's reply: `{task_id: [state, request]}` for the ids this worker holds (state active, reserved or scheduled). */
  query_task: (w, a) => {
    const out: Record<string, [string, ReturnType<typeof requestInfo>]> = {};
    for (const id of ids(a.ids ?? a.task_id)) {
      const found = w.consumer.find(id);
      if (found) out[id] = [found.state, requestInfo(w, found.request, found.state === 'active')];
    }
    return out;
  },
  scheduled: (w) =>
    w.consumer.eta.requests().map((r) => ({
      eta: r.req.eta ? toCeleryIso(r.req.eta) : null,
      priority: r.req.priority,
      request: requestInfo(w, r, false),
    })),
  revoked: (w) => [...w.revoked],
  registered: () => registeredTaskNames(),
  stats: (w) => ({
    total: Object.fromEntries(w.totals),
    pid: process.pid,
    clock: String(w.events?.clock ?? 0),
    uptime: Math.round((Date.now() - started) / 1000),
    pool: {
      'max-concurrency': w.pool.size,
      processes: w.pool.pids(),
      'max-tasks-per-child': w.config.worker?.maxTasksPerChild ?? 'N/A',
      implementation: w.poolKind,
    },
    broker: { transport: w.broker.kind, url: w.broker.displayUrl },
    prefetch_count: w.consumer.prefetchCount(),
    rusage: { utime: process.cpuUsage().user / 1e6, stime: process.cpuUsage().system / 1e6, maxrss: process.memoryUsage().rss / 1024 },
    sw_ident: 'sprig',
    loadavg: os.loadavg(),
  }),
  conf: (w) => ({
    broker_url: w.broker.displayUrl,
    queues: w.queues,
    concurrency: w.pool.size,
    pool: w.poolKind,
    prefetch_multiplier: w.prefetchMultiplier,
    acks_late: w.acksLate,
    events: w.sendEvents,
    time_limit: w.config.worker?.timeLimit ?? null,
    soft_time_limit: w.config.worker?.softTimeLimit ?? null,
    accept_content: w.config.accept ?? ['json'],
    /** Tasks per second, for the tasks that have a rate limit now (task options or `rate_limit`). */
    task_rate_limits: Object.fromEntries(registeredTaskNames().flatMap((n) => {
      const r = w.rateLimits.get(n);
      return r === null ? [] : [[n, r]];
    })),
    /** Seconds, set by `time_limit` (null: none). */
    task_time_limits: Object.fromEntries(w.timeLimits),
    autoscale: w.autoscaler ? [w.autoscaler.max, w.autoscaler.min] : null,
  }),
  /** Celery's `inspect clock`: the worker's logical clock (the events' `clock`). */
  clock: (w) => ({ clock: w.events?.clock ?? 0 }),
  /** Celery's `inspect report` (its bugreport): what this worker runs on. */
  report: (w) => ({
    ok: [`software -> sprig:${VERSION} node:${process.versions.node}`, `platform -> system:${os.type()} arch:${os.arch()}`, `settings -> transport:${w.broker.kind} results:${w.backend?.kind ?? 'disabled'}`].join('\n'),
  }),
  active_queues: (w) => w.queues.map((q) => ({ name: q, exchange: { name: '', type: 'direct' }, routing_key: q, durable: true })),
};

export const controlCommands: Record<string, Handler> = {
  rate_limit: (w, a) => {
    const name = String(a.task_name ?? '');
    const rate = a.rate_limit as string | number | null;
    if (!name) return { error: 'rate_limit needs task_name' };
    try {
      parseRate(rate);
    } catch (err) {
      return { error: (err as Error).message };
    }
    w.rateLimits.set(name, rate);
    w.consumer.pump();
    return { ok: rate ? 'new rate limit set successfully' : 'rate limit disabled successfully' };
  },
  time_limit: (w, a) => {
    const name = String(a.task_name ?? '');
    if (!name) return { error: 'time_limit needs task_name' };
    w.timeLimits.set(name, { hard: numOrNull(a.hard), soft: numOrNull(a.soft) });
    return { ok: 'time limits set successfully' };
  },
  revoke: (w, a) => revoke(w, ids(a.task_id), !!a.terminate, (a.signal as string) ?? 'SIGTERM'),
  terminate: (w, a) => revoke(w, ids(a.task_id), true, (a.signal as string) ?? 'SIGTERM'),
  pool_grow: async (w, a) => {
    const n = poolDelta(a.n);
    if (n === undefined) return { error: POOL_DELTA };
    await w.pool.grow(n);
    w.consumer.onPoolResized();
    return { ok: 'pool will grow' };
  },
  pool_shrink: async (w, a) => {
    const n = poolDelta(a.n);
    if (n === undefined) return { error: POOL_DELTA };
    await w.pool.shrink(n);
    w.consumer.onPoolResized();
    return { ok: 'pool will shrink' };
  },
  autoscale: (w, a) => {
    const max = Number(a.max);
    const min = Number(a.min ?? 0);
    if (!Number.isInteger(max) || max < 1 || !Number.isInteger(min) || min < 0 || min > max) return { error: 'autoscale needs integers max >= min >= 0' };
    w.setAutoscale(max, min);
    return { ok: `autoscale now max=${max} min=${min}` };
  },
  enable_events: (w) => {
    w.sendEvents = true;
    w.events.enabled = true;
    return { ok: 'task events enabled' };
  },
  disable_events: (w) => {
    w.sendEvents = false;
    w.events.enabled = false;
    return { ok: 'task events disabled' };
  },
  /** Celery's mingle: share revoked ids with a worker that is starting. */
  hello: (w, a) => {
    const theirs = a.revoked;
    if (theirs && typeof theirs === 'object') for (const id of Object.keys(theirs as object)) w.revoked.add(id);
    return { revoked: Object.fromEntries([...w.revoked].map((id) => [id, Date.now() / 1000])), clock: w.events?.clock ?? 0 };
  },
  /**
   * Celery's add_consumer(queue, exchange, exchange_type, routing_key): consume from one more queue
   * (Sprig routes by queue name; exchange and routing_key are not needed for that).
   */
  add_consumer: async (w, a) => {
    const queue = typeof a.queue === 'string' ? a.queue.trim() : '';
    if (!queue) return { error: 'add_consumer needs a queue' };
    if (w.queues.includes(queue)) return { ok: `already consuming from ${JSON.stringify(queue)}` };
    w.log.info(`Started consuming from ${queue}`);
    await w.consumer.setQueues([...w.queues, queue]);
    return { ok: `add consumer ${queue}` };
  },
  /** Celery's cancel_consumer(queue): stop consuming from a queue (tasks already received still run). */
  cancel_consumer: async (w, a) => {
    const queue = typeof a.queue === 'string' ? a.queue.trim() : '';
    if (!queue) return { error: 'cancel_consumer needs a queue' };
    if (w.queues.includes(queue)) {
      w.log.info(`Cancelled consuming from ${queue}`);
      await w.consumer.setQueues(w.queues.filter((q) => q !== queue));
    }
    return { ok: `no longer consuming from ${queue}` };
  },
  /** An event receiver asks for a heartbeat now. */
  heartbeat: (w) => {
    w.sendHeartbeat();
    return null;
  },
  shutdown: (w) => {
    setTimeout(() => void w.stop(), 50);
    return { ok: 'shutting down' };
  },
};

const POOL_DELTA = 'n must be an integer from 1 to 1000';

/**
 * A pool_grow/pool_shrink count checked before use: `n: "abc"` made the pool's size NaN (no slot
 * ever free again) and `n: 1e9` forks without end.
 */
function poolDelta(v: unknown): number | undefined {
  const n = v === undefined || v === null ? 1 : Number(v);
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : undefined;
}

function numOrNull(v: unknown): number | null {
  const n = Number(v);
  return v === null || v === undefined || !Number.isFinite(n) || n <= 0 ? null : n;
}

function revoke(w: Worker, taskIds: string[], terminate: boolean, signal: string) {
  const terminated: string[] = [];
  for (const id of taskIds) {
    w.revoked.add(id);
    w.consumer.discard(id);
    if (terminate && w.consumer.active.has(id)) {
      w.terminated.set(id, signal);
      if (w.pool.terminate(id, `revoked with terminate (${signal})`)) terminated.push(id);
    }
  }
  w.log.info(`Tasks flagged as revoked: ${taskIds.join(', ')}${terminated.length ? ` (terminated: ${terminated.join(', ')})` : ''}`);
  return { ok: `tasks ${taskIds.join(', ')} flagged as revoked${terminated.length ? `, terminated ${terminated.join(', ')}` : ''}` };
}

export function findHandler(method: string): Handler | undefined {
  // Own names only: "constructor" or "toString" from a broadcast is no command.
  if (Object.hasOwn(inspectCommands, method)) return inspectCommands[method];
  return Object.hasOwn(controlCommands, method) ? controlCommands[method] : undefined;
}

/** The default bootsteps, each small (Celery's worker/consumer steps). */
import * as os from 'node:os';
import { createBroker } from '../../brokers/registry.js';
import { createBackendFromUrl, defaultApp } from '../../app/app.js';
import { brokerOptionsOf, startupRetries } from '../../app/config.js';
import { redactUrl } from '../../util/url.js';
import { connectOnStartup } from './startup-retry.js';
import { AsyncPool } from '../pool/async-pool.js';
import { ChildPool } from '../pool/child-pool.js';
import { EventDispatcher } from '../../events/dispatcher.js';
import { TaskConsumer } from '../consumer.js';
import type { Step } from '../blueprint.js';
import type { Worker } from '../worker.js';
import { VERSION } from '../../version.js';
import { controlStep } from './control.js';
import { autoreloadStep } from '../autoreload.js';
import { metricsStep } from '../metrics.js';
import { configureSigning } from '../../serialization/signed.js';

/** Keys for the 'signed' serializer, before anything is consumed (retries are re-signed). */
export const signingStep: Step<Worker> = {
  name: 'signing',
  start(w) {
    if (w.config.signing) configureSigning(w.config.signing);
  },
};

export const autoscaleStep: Step<Worker> = {
  name: 'autoscale',
  requires: ['pool', 'consumer'],
  start(w) {
    const a = w.config.worker?.autoscale;
    if (a) w.setAutoscale(a[0], a[1]);
  },
  stop(w) {
    w.autoscaler?.stop();
  },
};

export const connectionStep: Step<Worker> = {
  name: 'connection',
  async start(w) {
    const c = w.config;
    const retry = { maxRetries: startupRetries(c), log: w.log, stopped: () => w.isStopping };
    const broker = await createBroker(c.brokerUrl!, brokerOptionsOf(c));
    w.broker = broker;
    await connectOnStartup(() => broker.connect(), { ...retry, what: 'broker', url: broker.displayUrl });
    const backendUrl = c.resultBackend;
    w.backend = backendUrl
      ? await connectOnStartup(() => createBackendFromUrl(backendUrl, async () => broker, c.resultBackendTransportOptions), { ...retry, what: 'result backend', url: redactUrl(backendUrl) })
      : broker.createBackend();
    // Tasks that enqueue other tasks use the worker's own connections.
    defaultApp().useBroker(w.broker, w.backend);
  },
  async stop(w) {
    await w.backend?.close();
    await w.broker?.close();
  },
};

export const eventsStep: Step<Worker> = {
  name: 'events',
  requires: ['connection'],
  start(w) {
    w.events = new EventDispatcher(w.broker, w.hostname);
    w.events.enabled = w.sendEvents;
  },
};

function workerStatus(w: Worker) {
  return {
    freq: 2.0,
    // Running now, as Celery counts it: not the ones waiting in a pool child's batch.
    active: w.consumer?.running().length ?? 0,
    processed: w.stats.processed,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    sw_ident: 'sprig',
    sw_ver: VERSION,
    sw_sys: os.type(),
  };
}

export const heartbeatStep: Step<Worker> = {
  name: 'heartbeat',
  requires: ['events', 'consumer'],
  start(w) {
    w.events.send({ type: 'worker-online', ...workerStatus(w) });
    w.sendHeartbeat = () => void w.events.send({ type: 'worker-heartbeat', ...workerStatus(w) });
    w.heartbeatTimer = setInterval(w.sendHeartbeat, 2000);
    w.heartbeatTimer.unref();
  },
  async stop(w) {
    clearInterval(w.heartbeatTimer);
    w.events.send({ type: 'worker-offline', ...workerStatus(w) });
    await w.broker.flush();
  },
};

export const poolStep: Step<Worker> = {
  name: 'pool',
  async start(w) {
    const opts = {
      concurrency: w.concurrency,
      timeLimit: w.config.worker?.timeLimit,
      maxTasksPerChild: w.config.worker?.maxTasksPerChild,
      maxMemoryPerChild: w.config.worker?.maxMemoryPerChild,
      log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => w.log[level](msg),
      // Tasks that enqueue other tasks from a pool child talk to the worker's own broker/backend.
      childEnv: Object.fromEntries(
        Object.entries({
          SPRIG_BROKER_URL: w.config.brokerUrl,
          SPRIG_RESULT_BACKEND: w.config.resultBackend,
          SPRIG_PROJECT_DIR: w.config.projectDir,
        }).filter((e): e is [string, string] => typeof e[1] === 'string'),
      ),
    };
    if (w.poolKind === 'async') w.pool = new AsyncPool(opts);
    else {
      if (!w.bundle) throw new Error(`the ${w.poolKind} pool needs a tasks file (--app FILE)`);
      w.pool = new ChildPool(w.poolKind, { ...opts, bundle: w.bundle.outfile, depth: w.prefetchMultiplier });
    }
    await w.pool.start();
  },
  async stop(w) {
    await w.pool?.stop(!w.cold);
  },
};

export const consumerStep: Step<Worker> = {
  name: 'consumer',
  requires: ['connection', 'events', 'pool'],
  async start(w) {
    w.consumer = new TaskConsumer(w);
    await w.consumer.start();
  },
  async stop(w) {
    await w.consumer?.stop(!w.cold);
  },
};

/** Default steps; user steps are inserted before the consumer, so they start before it and stop after it. */
export function defaultSteps(userSteps: readonly Step<Worker>[] = []): Step<Worker>[] {
  return [signingStep, connectionStep, eventsStep, metricsStep, poolStep, ...userSteps, consumerStep, controlStep, autoscaleStep, autoreloadStep, heartbeatStep];
}

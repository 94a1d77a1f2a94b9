import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { invalidArgument } from './commander.js';
import { Worker } from '../worker/worker.js';
import { ConfigError } from '../errors.js';
import type { PoolKind } from '../app/config.js';
import type { LogLevel } from '../util/log.js';
import { csv, nonNegativeInt, nonNegativeNumber, oneOf, positiveInt } from './options.js';
import { brokerOption } from './client-commands.js';
import { reportError } from './report-error.js';
import { duplicateTasks, duplicateTaskWarning } from '../app/registry.js';
import { TaskFileError, taskFileErrorLocation } from '../app/loader.js';
import { onParentShutdown, sendToParent, type ShutdownMode } from '../util/child-ipc.js';
import { Beat } from '../beat/beat.js';

/** SIGBREAK: Ctrl-Break in a Windows console (elsewhere it is never sent, so listening is harmless). */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGBREAK'] as const;

interface WorkerFlags {
  app: string;
  broker?: string;
  resultBackend?: string;
  concurrency?: number;
  pool?: PoolKind;
  queues?: string[];
  prefetchMultiplier?: number;
  etaTaskLimit?: number;
  events?: boolean;
  acksLate?: boolean;
  hostname?: string;
  loglevel: LogLevel;
  timeLimit?: number;
  softTimeLimit?: number;
  maxTasksPerChild?: number;
  maxMemoryPerChild?: number;
  metrics?: string;
  accept?: string[];
  autoscale?: [number, number];
  autoreload?: boolean;
  shutdownTimeout?: number;
  beat?: boolean;
  brokerConnectionMaxRetries?: number;
  deadLetterMaxBytes?: number;
  deadLetterMaxLength?: number;
}

function autoscaleArg(v: string): [number, number] {
  const m = /^(\d+)(?:,(\d+))?$/.exec(v.trim());
  const max = Number(m?.[1]);
  const min = Number(m?.[2] ?? 0);
  if (!m || max < 1 || min > max) throw invalidArgument(`--autoscale expects MAX,MIN with MAX >= MIN, e.g. --autoscale 10,2; got ${JSON.stringify(v)}`);
  return [max, min];
}

export function registerWorkerCommand(program: Command): void {
  brokerOption(
    program
      .command('worker')
      .description('run a worker for the tasks in --app FILE')
      .requiredOption('-A, --app <file>', 'tasks file (.ts or .js) that defines the tasks')
      .option('-c, --concurrency <n>', 'pool size (default: CPU count; 50 for --pool async)', positiveInt('--concurrency'))
      .option('-P, --pool <kind>', 'process (default), thread or async', oneOf('--pool', ['process', 'thread', 'async'] as const))
      .option('-Q, --queues <q1,q2>', 'queues to consume from (default: celery)', csv)
      .option('--prefetch-multiplier <n>', 'messages prefetched per pool slot (default: adaptive, 4 rising to 16 while tasks take under 1 ms; a number fixes it, e.g. 1 for long tasks)', positiveInt('--prefetch-multiplier'))
      .option('--eta-task-limit <n>', 'at most this many ETA/countdown tasks held in memory (default 5000 on Redis, where later ones wait on the broker until due; unbounded elsewhere)', nonNegativeInt('--eta-task-limit'))
      .option('-E, --events', 'send monitoring events')
      .option('--acks-late', 'acknowledge after the task ran (at-least-once), for every task')
      .option('-n, --hostname <name>', 'node name (default sprig<pid>@<host>)')
      .option('-l, --loglevel <level>', 'debug, info, warn or error', oneOf('--loglevel', ['debug', 'info', 'warn', 'error'] as const), 'info')
      .option('--time-limit <s>', 'hard time limit per task', nonNegativeNumber('--time-limit'))
      .option('--soft-time-limit <s>', 'soft time limit per task', nonNegativeNumber('--soft-time-limit'))
      .option('--max-tasks-per-child <n>', 'replace a pool child after this many tasks', positiveInt('--max-tasks-per-child'))
      .option('--max-memory-per-child <kb>', 'replace a pool child whose RSS grows past this (KB)', positiveInt('--max-memory-per-child'))
      .option('--autoscale <max,min>', 'grow the pool up to MAX while tasks wait, shrink to MIN when idle', autoscaleArg)
      .option('--autoreload', 'reload the tasks file (and what it imports) when it changes')
      .option('--shutdown-timeout <s>', 'warm shutdown waits this long for running tasks, then goes cold', nonNegativeNumber('--shutdown-timeout'))
      .option('--metrics <host:port>', 'serve Prometheus metrics at http://HOST:PORT/metrics (PORT alone: on 127.0.0.1)')
      .option(
        '--broker-connection-max-retries <n>',
        'a broker unreachable at start is retried with backoff this many times, 0: forever (default 100, Celery\'s broker_connection_max_retries)',
        nonNegativeInt('--broker-connection-max-retries', ' (0: retry forever)'),
      )
      .option('--dead-letter-max-bytes <n>', 'bytes of a rejected message kept in its dead-letter entry; its size is recorded (default 65536)', positiveInt('--dead-letter-max-bytes'))
      .option('--dead-letter-max-length <n>', 'entries kept per dead-letter queue, the oldest dropped first (default 10000)', positiveInt('--dead-letter-max-length'))
      .option('--accept <names>', 'content accepted, by serializer name or content type (default json), e.g. json,msgpack or signed', csv)
      .option('-B, --beat', "also run the periodic task scheduler in this process (development: one process; see `sprig beat`)"),
  ).action(async (o: WorkerFlags) => {
    const file = path.resolve(o.app);
    if (!fs.existsSync(file)) {
      process.exitCode = reportError(new ConfigError(`--app ${o.app}: no such file (${file}); pass the tasks file, e.g. --app examples/tasks.ts`));
      return;
    }
    const worker = new Worker({
      app: file,
      logLevel: o.loglevel,
      config: {
        brokerUrl: o.broker,
        resultBackend: o.resultBackend,
        accept: o.accept,
        brokerConnectionMaxRetries: o.brokerConnectionMaxRetries,
        deadLetter: o.deadLetterMaxBytes || o.deadLetterMaxLength ? { maxBytes: o.deadLetterMaxBytes, maxLength: o.deadLetterMaxLength } : undefined,
        worker: {
          concurrency: o.concurrency,
          pool: o.pool,
          queues: o.queues,
          prefetchMultiplier: o.prefetchMultiplier,
          etaTaskLimit: o.etaTaskLimit,
          events: o.events,
          acksLate: o.acksLate,
          hostname: o.hostname,
          timeLimit: o.timeLimit,
          softTimeLimit: o.softTimeLimit,
          maxTasksPerChild: o.maxTasksPerChild,
          maxMemoryPerChild: o.maxMemoryPerChild,
          autoscale: o.autoscale,
          autoreload: o.autoreload,
          shutdownTimeout: o.shutdownTimeout,
          metrics: o.metrics,
        },
      },
    });
    // --beat: the scheduler shares the worker's connection and tasks file; it stops first.
    let beat: Beat | undefined;
    const stopBeat = () => beat?.stop().catch((err: Error) => worker.log.error(`beat failed to stop: ${err.message}`)) ?? Promise.resolve();
    // One way in for every stop request: a signal from a terminal or service manager, or a
    // shutdown request from the parent over IPC (the only graceful way on Windows).
    let stopping: ShutdownMode | undefined;
    const shutdown = (mode: ShutdownMode, why: string) => {
      if (stopping === 'cold' || (stopping === 'warm' && mode === 'warm')) return;
      stopping = mode;
      if (mode === 'warm') {
        worker.log.info(`${why}: warm shutdown`);
        void stopBeat().then(() => worker.stop()).then(() => process.exit(0));
      } else {
        worker.log.warn(`${why}: cold shutdown`);
        void stopBeat();
        void worker.stop({ cold: true }).then(() => process.exit(0));
        setTimeout(() => process.exit(1), 200).unref();
      }
    };
    const onSignal = (sig: NodeJS.Signals) => shutdown(stopping ? 'cold' : 'warm', stopping ? `${sig} received again` : `${sig} received`);
    for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
    const stopListening = onParentShutdown((mode, why) =>
      shutdown(mode, why === 'request' ? 'shutdown requested over IPC' : 'the parent process went away (IPC channel closed)'),
    );
    const unhook = () => {
      for (const sig of STOP_SIGNALS) process.removeListener(sig, onSignal);
      stopListening();
    };
    worker.once('ready', () => {
      // Two task('same name', ...): the later one runs, which is rarely what was meant.
      for (const d of duplicateTasks()) worker.log.warn(duplicateTaskWarning(d));
      sendToParent({
        type: 'ready',
        hostname: worker.hostname,
        pid: process.pid,
        pool: worker.poolKind,
        concurrency: worker.concurrency,
        queues: worker.queues,
        broker: worker.broker.displayUrl,
      });
    });
    // A tasks file that does not build or load, told to the parent with its place (the editor
    // shows it on the line); an autoreload that works again clears it.
    const tasksFileStatus = (ok: boolean, error?: string) =>
      sendToParent({ type: 'tasks-file', ok, ...(error ? { error, ...taskFileErrorLocation(error) } : {}) });
    worker.on('reload', (r: { ok: boolean; error?: string }) => tasksFileStatus(r.ok, r.error));
    try {
      await worker.start();
      if (o.beat) {
        beat = new Beat({ app: file, exports: worker.bundle?.exports, broker: worker.broker, logLevel: o.loglevel, config: { brokerUrl: o.broker, resultBackend: o.resultBackend } });
        worker.once('stopped', () => void stopBeat());
        await beat.start();
      }
    } catch (err) {
      await stopBeat();
      if (beat) await worker.stop({ cold: true });
      if (err instanceof TaskFileError) tasksFileStatus(false, err.message);
      process.exitCode = reportError(err);
      unhook();
      setTimeout(() => process.exit(process.exitCode as number), 100).unref();
      return;
    }
    await new Promise<void>((resolve) => worker.once('stopped', resolve));
    // Stopped some other way (the `shutdown` control command): the channel must not keep us alive.
    stopListening();
  });
}

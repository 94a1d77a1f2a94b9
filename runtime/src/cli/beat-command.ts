import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { Beat, type BeatListEntry } from '../beat/beat.js';
import { ConfigError } from '../errors.js';
import type { CatchUpPolicy } from '../app/schedule.js';
import type { LogLevel } from '../util/log.js';
import { nonNegativeNumber, oneOf, positiveInt } from './options.js';
import { brokerOption } from './client-commands.js';
import { reportError } from './report-error.js';

interface BeatFlags {
  app?: string;
  broker?: string;
  resultBackend?: string;
  list?: boolean;
  json?: boolean;
  catchUp?: CatchUpPolicy;
  maxCatchUp?: number;
  leaseTtl?: number;
  name?: string;
  watch: boolean;
  loglevel: LogLevel;
}

const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGBREAK'] as const;

function table(rows: readonly BeatListEntry[]): string {
  const head = ['NAME', 'TASK', 'SCHEDULE', 'NEXT RUN', 'LAST RUN'];
  const body = rows.map((r) => [r.name, r.task, r.schedule, r.nextRunAt ?? '-', r.lastRunAt ?? 'never']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((cols) => cols.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** `sprig beat`: the periodic task scheduler; `--list`: its entries with their next run. */
export function registerBeatCommand(program: Command): void {
  brokerOption(
    program
      .command('beat')
      .description('run the periodic task scheduler (one is active per broker; start more to stand by)')
      .option('-A, --app <file>', 'tasks file whose `schedule` export (and tasks) to use; sprig.config beat.schedule is read too')
      .option('--list', 'print the entries with their next and last run, then exit')
      .option('--json', 'with --list: print JSON [{name, task, schedule, nextRunAt, lastRunAt, args, kwargs, options}]')
      .option('--catch-up <policy>', 'runs missed while no scheduler ran: latest (default, run once), all, skip', oneOf('--catch-up', ['latest', 'all', 'skip'] as const))
      .option('--max-catch-up <n>', "with --catch-up all: at most this many missed runs per entry (default 100)", positiveInt('--max-catch-up'))
      .option('--lease-ttl <s>', 'seconds the active scheduler holds its lease between renewals (default 10): a standby takes over within ttl + ttl/5', nonNegativeNumber('--lease-ttl'))
      .option('--name <name>', 'scheduler name: one active per broker per name (default "default")')
      .option('--no-watch', 'do not reload the schedule when the tasks or config file changes')
      .option('-l, --loglevel <level>', 'debug, info, warn or error', oneOf('--loglevel', ['debug', 'info', 'warn', 'error'] as const), 'info'),
  ).action(async (o: BeatFlags) => {
    const file = o.app ? path.resolve(o.app) : undefined;
    if (file && !fs.existsSync(file)) {
      process.exitCode = reportError(new ConfigError(`--app ${o.app}: no such file (${file}); pass the tasks file, e.g. --app tasks.ts`));
      return;
    }
    if (o.json && !o.list) {
      process.exitCode = reportError(new ConfigError('--json goes with --list: sprig beat --list --json'));
      return;
    }
    const beat = new Beat({
      app: file,
      watch: o.watch && !o.list,
      logLevel: o.loglevel,
      config: {
        brokerUrl: o.broker,
        resultBackend: o.resultBackend,
        beat: { catchUp: o.catchUp, maxCatchUp: o.maxCatchUp, leaseTtl: o.leaseTtl, name: o.name },
      },
    });
    if (o.list) {
      try {
        await beat.load();
        await beat.connect();
        const rows = await beat.list();
        process.stdout.write(o.json ? JSON.stringify(rows) + '\n' : table(rows));
      } catch (err) {
        process.exitCode = reportError(err);
      } finally {
        await beat.stop().catch(() => undefined);
      }
      return;
    }
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        beat.log.warn(`${sig} received again: exiting now (the lease expires by itself)`);
        process.exit(1);
      }
      stopping = true;
      beat.log.info(`${sig} received: stopping (the lease is released; signal again to exit at once)`);
      void beat.stop().then(() => process.exit(0));
    };
    for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
    try {
      await beat.start();
    } catch (err) {
      process.exitCode = reportError(err);
      for (const sig of STOP_SIGNALS) process.removeListener(sig, onSignal);
      await beat.stop().catch(() => undefined);
      setTimeout(() => process.exit(process.exitCode as number), 100).unref();
      return;
    }
    await new Promise<void>((resolve) => beat.once('stopped', resolve));
  });
}

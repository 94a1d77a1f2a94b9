import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { App } from '../app/app.js';
import type { AsyncResult } from '../app/result.js';
import type { SprigEvent } from '../events/types.js';
import { cliPath, packageRoot } from '../util/paths.js';
import { stopChild } from '../util/child-ipc.js';
import { reportError } from './report-error.js';
import { brokerOption } from './client-commands.js';

function describeEvent(e: SprigEvent): string {
  const id = 'uuid' in e && e.uuid ? ` ${String(e.uuid).slice(0, 8)}` : '';
  let extra = '';
  if (e.type === 'task-received') extra = ` ${e.name}${e.args}${e.kwargs && e.kwargs !== '{}' ? ` ${e.kwargs}` : ''}`;
  else if (e.type === 'task-succeeded') extra = ` -> ${e.result} (${(e.runtime * 1000).toFixed(1)} ms)`;
  else if (e.type === 'task-failed') extra = ` ${e.exception}`;
  else if (e.type === 'task-retried') extra = ` ${e.exception}`;
  else if (e.type === 'task-rejected') extra = ` ${e.reason ?? ''}`;
  else if (e.type === 'task-revoked') extra = e.expired ? ' (expired)' : '';
  return `  event ${e.type.padEnd(16)} ${e.hostname}${id}${extra}`;
}

/** `sprig demo`: a worker on examples/tasks.ts, a mix of tasks, their events and results. */
export function registerDemoCommand(program: Command): void {
  brokerOption(
    program
      .command('demo')
      .description('start a worker on examples/tasks.ts, enqueue a mix of tasks, print events and results')
      .option('-A, --app <file>', 'tasks file', path.join(packageRoot(), 'examples', 'tasks.ts'))
      .option('-P, --pool <kind>', 'worker pool', 'process'),
  ).action(async (o: { broker?: string; resultBackend?: string; app: string; pool: string }) => {
    // The demo's own tasks file lives in the repository (runtime/examples/), not in the package.
    if (!fs.existsSync(o.app)) {
      process.stderr.write(`sprig demo: no tasks file at ${o.app}; pass one with --app (e.g. --app tasks.ts), or run the demo from the Sprig repository (runtime/examples/tasks.ts)\n`);
      process.exitCode = 2;
      return;
    }
    const app = new App({ brokerUrl: o.broker, resultBackend: o.resultBackend });
    let worker: ReturnType<typeof spawn> | undefined;
    let brokerNote: Parameters<typeof afterDemo>[0] | undefined;
    try {
      const config = await app.config();
      const embedded = config.brokerUrl === 'sprig://';
      const projectDir = config.projectDir ?? process.cwd();
      // Loaded here: the CLI's other commands do not need the embedded broker's modules.
      const { findRunningBroker } = await import('../brokers/embedded/discovery.js');
      const { AUTO_IDLE_EXIT_MS } = await import('../brokers/embedded/server.js');
      brokerNote = { embedded, projectDir, startedHere: embedded && (await findRunningBroker(projectDir)) === null, idleMinutes: AUTO_IDLE_EXIT_MS / 60_000 };
      process.stdout.write(`Sprig demo — broker ${config.brokerUrl === 'sprig://' ? `embedded (${config.projectDir}/.sprig)` : config.brokerUrl}\n`);
      const broker = await app.broker();
      const online = new Promise<void>((resolve) => {
        void broker.subscribeEvents((e) => {
          if (e.type === 'worker-heartbeat') return;
          process.stdout.write(describeEvent(e) + '\n');
          if (e.type === 'worker-online') resolve();
        });
      });
      const args = [cliPath(), 'worker', '--app', o.app, '-E', '-c', '2', '--pool', o.pool, '--loglevel', 'warn'];
      if (o.broker) args.push('--broker', o.broker);
      if (o.resultBackend) args.push('--result-backend', o.resultBackend);
      process.stdout.write(`starting worker: sprig ${args.slice(1).join(' ')}\n`);
      // An IPC channel: the worker is stopped by a shutdown request, the same on every OS.
      worker = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
      let workerErr = '';
      worker.stderr!.on('data', (d: Buffer) => (workerErr += d.toString()));
      const exited = new Promise<never>((_, reject) =>
        worker!.once('exit', (code) => reject(new Error(`the worker exited (code ${code}):\n${workerErr.trim()}`))),
      );
      exited.catch(() => undefined);
      await Promise.race([online, exited, timeout(30_000, 'the worker did not come online within 30 s')]);

      const calls: Array<{ label: string; expect: string; r: AsyncResult }> = [
        { label: 'add(2, 3)', expect: 'SUCCESS', r: app.sendTask('add', [2, 3]) },
        { label: 'mul(6, 7)', expect: 'SUCCESS', r: app.sendTask('mul', [6, 7]) },
        { label: "greet('Ada', {greeting: 'Hi'})", expect: 'SUCCESS', r: app.sendTask('greet', ['Ada'], { greeting: 'Hi' }) },
        { label: 'add(1, 1) countdown 1s', expect: 'SUCCESS', r: app.sendTask('add', [1, 1], {}, { countdown: 1 }) },
        { label: 'flaky(2): retries twice', expect: 'SUCCESS', r: app.sendTask('flaky', [2]) },
        { label: 'fetchQuote: autoretry + backoff', expect: 'SUCCESS', r: app.sendTask('fetchQuote', ['ACME']) },
        { label: "fail('card declined')", expect: 'FAILURE', r: app.sendTask('fail', ['card declined']) },
        { label: 'add(9, 9) already expired', expect: 'REVOKED', r: app.sendTask('add', [9, 9], {}, { expires: new Date(Date.now() - 1000) }) },
        { label: 'nosuch(): not registered', expect: 'FAILURE', r: app.sendTask('nosuch', []) },
      ];
      let ok = true;
      const rows: string[] = [];
      for (const c of calls) {
        let shown: string;
        try {
          shown = JSON.stringify(await c.r.get({ timeout: 30 }));
        } catch (err) {
          shown = (err as Error).message.split('\n')[0]!;
        }
        const state = c.r.state;
        if (state !== c.expect) ok = false;
        rows.push(`  ${c.label.padEnd(34)} ${state.padEnd(8)} ${shown}`);
      }
      await new Promise((r) => setTimeout(r, 300));
      process.stdout.write(`\nResults:\n${rows.join('\n')}\n`);
      process.stdout.write(ok ? '\nAll tasks ended in their expected states.\n' : '\nSome tasks did not end as expected.\n');
      process.exitCode = ok ? 0 : 1;
    } catch (err) {
      process.exitCode = reportError(err);
    } finally {
      if (worker) await stopChild(worker, { mode: 'warm', graceMs: 10_000 });
      await app.close();
    }
    if (brokerNote) process.stdout.write(afterDemo(brokerNote));
  });
}

/** What is still running, how to stop it, and what to try next. */
export function afterDemo(b: { embedded: boolean; startedHere: boolean; projectDir: string; idleMinutes: number }): string {
  const lines = [''];
  if (b.embedded) {
    lines.push(
      b.startedHere
        ? `The embedded broker this demo started is still running (its files are in ${path.join(b.projectDir, '.sprig')}):`
        : `The embedded broker of ${b.projectDir} (it was running before the demo) is still running:`,
      `it exits by itself after ${b.idleMinutes} minutes with no client, or now with:  sprig broker --stop`,
      '',
    );
  }
  lines.push(
    'Next:',
    "  your own tasks   a tasks.ts with:  import { task } from 'sprig-queue';",
    '                                     export const add = task(\'add\', (a: number, b: number) => a + b);',
    '                   sprig worker --app tasks.ts -E      then      sprig call add --args \'[2, 3]\' --wait',
    '  watch them       sprig events, or the Sprig monitor in VS Code (the Sprig view in the activity bar)',
    '',
  );
  return lines.join('\n');
}

function timeout(ms: number, message: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(message)), ms).unref());
}

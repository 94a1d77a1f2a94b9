/**
 * `sprig run-task <name> --app FILE --args JSON`: run one task in this process, as a worker would
 * (the same build of the tasks file, with inline source maps, the same ctx: id, retries, signal,
 * hostname, time limits), without a broker. What the editor's "Debug Task" launches under the
 * JavaScript debugger, and what a `.vscode/launch.json` or a terminal can run too.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { loadTasksBundle } from '../worker/tasks-bundle.js';
import { errorToInfo, executeTask, LazyAbort, type Job } from '../worker/trace.js';
import { ConfigError, SoftTimeLimitExceeded, TimeLimitExceeded } from '../errors.js';
import { registeredTaskNames } from '../app/registry.js';
import { defaultApp } from '../app/app.js';
import { stringifyJson } from '../serialization/json.js';
import { taskTraceback } from '../app/traceback.js';
import { jsonArray, jsonObject, nonNegativeInt, nonNegativeNumber } from './options.js';
import { reportError } from './report-error.js';
import type { Outcome } from '../protocol/outcome.js';

interface RunTaskFlags {
  app: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  id?: string;
  retries: number;
  queue?: string;
  hostname?: string;
  timeLimit?: number;
  softTimeLimit?: number;
  json?: boolean;
}

/** Runs the job in this process; the soft limit aborts ctx.signal, the hard one ends the run (as the async pool does). */
export async function runTaskHere(job: Job): Promise<Outcome> {
  const abort = new LazyAbort();
  const timers: NodeJS.Timeout[] = [];
  // Ctrl-C (or the debugger's stop) aborts the task's signal first; a second one exits.
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    abort.abort(new Error('interrupted (SIGINT)'));
  };
  process.on('SIGINT', onSigint);
  try {
    const run = Promise.resolve(executeTask(job, abort));
    const limits: Array<Promise<Outcome>> = [];
    if (job.softTimeLimit) timers.push(setTimeout(() => abort.abort(new SoftTimeLimitExceeded(job.softTimeLimit!)), job.softTimeLimit * 1000));
    if (job.timeLimit) {
      const hard = job.timeLimit;
      limits.push(
        new Promise<Outcome>((resolve) =>
          timers.push(
            setTimeout(() => {
              abort.abort(new TimeLimitExceeded(hard));
              resolve({ state: 'FAILURE', ...errorToInfo(new TimeLimitExceeded(hard)), runtime: hard });
            }, hard * 1000),
          ),
        ),
      );
    }
    return await Promise.race([run, ...limits]);
  } finally {
    for (const t of timers) clearTimeout(t);
    process.removeListener('SIGINT', onSigint);
  }
}

export function registerRunTaskCommand(program: Command): void {
  program
    .command('run-task <task>')
    .description('run one task in this process as a worker would (no broker needed): for a debugger, e.g. run-task add --app tasks.ts --args "[2, 3]"')
    .requiredOption('-A, --app <file>', 'tasks file (.ts or .js) that defines the task')
    .option('-a, --args <json>', 'positional arguments as a JSON array', jsonArray('--args'), [])
    .option('-k, --kwargs <json>', 'keyword arguments as a JSON object', jsonObject('--kwargs'), {})
    .option('--id <id>', 'the task id ctx.id has (default: a new uuid)')
    .option('--retries <n>', 'ctx.retries: run it as this retry of the task', nonNegativeInt('--retries'), 0)
    .option('-Q, --queue <name>', 'ctx.queue (default celery)')
    .option('-n, --hostname <name>', 'ctx.hostname (default sprig-debug@<host>)')
    .option('--time-limit <s>', 'hard time limit: the run fails with TimeLimitExceeded', nonNegativeNumber('--time-limit'))
    .option('--soft-time-limit <s>', 'soft time limit: ctx.signal is aborted with SoftTimeLimitExceeded', nonNegativeNumber('--soft-time-limit'))
    .option('-j, --json', 'print the outcome as one JSON object on stdout')
    .action(async (name: string, o: RunTaskFlags) => {
      const file = path.resolve(o.app);
      try {
        if (!fs.existsSync(file)) throw new ConfigError(`--app ${o.app}: no such file (${file}); pass the tasks file, e.g. --app tasks.ts`);
        await loadTasksBundle(file);
        if (!registeredTaskNames().includes(name)) {
          throw new ConfigError(`${path.basename(file)} defines no task ${JSON.stringify(name)}; it defines: ${registeredTaskNames().filter((n) => !n.startsWith('celery.')).join(', ') || '(none)'}`);
        }
        const id = o.id ?? randomUUID();
        const job: Job = {
          id,
          name,
          args: o.args,
          kwargs: o.kwargs,
          retries: o.retries,
          eta: null,
          rootId: id,
          parentId: null,
          groupId: null,
          queue: o.queue ?? 'celery',
          headers: {},
          hostname: o.hostname ?? `sprig-debug@${os.hostname()}`,
          timeLimit: o.timeLimit || null,
          softTimeLimit: o.softTimeLimit || null,
          expires: null,
        };
        const out = await runTaskHere(job);
        process.exitCode = out.state === 'SUCCESS' ? 0 : 1;
        if (o.json) process.stdout.write(`${stringifyJson({ id, name, ...out })}\n`);
        else if (out.state === 'SUCCESS') process.stdout.write(`${name}[${id}] succeeded in ${out.runtime.toFixed(3)} s: ${stringifyJson(out.result)}\n`);
        else if (out.state === 'FAILURE') process.stderr.write(`${name}[${id}] failed: ${out.repr}\n${taskTraceback(out.traceback, { taskName: name })}\n`);
        else if (out.state === 'RETRY') process.stderr.write(`${name}[${id}] asked to be retried (${out.repr}); a worker would run it again as retry ${o.retries + 1}\n`);
        else process.stderr.write(`${name}[${id}] ended ${out.state}${'reason' in out && out.reason ? `: ${out.reason}` : ''}\n`);
      } catch (err) {
        process.exitCode = reportError(err);
      } finally {
        // A task that enqueued others opened the default app's connection.
        await defaultApp().close().catch(() => undefined);
      }
    });
}

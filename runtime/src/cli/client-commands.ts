import type { Command } from 'commander';
import { App } from '../app/app.js';
import { TimeoutError } from '../errors.js';
import { csv, isoDate, jsonArray, jsonObject, nonNegativeNumber } from './options.js';
import { reportError } from './report-error.js';
import { stringifyJson } from '../serialization/json.js';
import { canPrompt, confirm } from './prompt.js';
import { checkCall, heldState, watchCall } from './call-watch.js';
import type { ResultMeta } from '../backends/types.js';

export function brokerOption(cmd: Command): Command {
  return cmd
    .option('-b, --broker <url>', 'broker URL (default: SPRIG_BROKER_URL, sprig.config, else the embedded broker)')
    .option('--result-backend <url>', 'result backend URL (default: the broker itself)');
}

export function clientApp(o: { broker?: string; resultBackend?: string }): App {
  return new App({ brokerUrl: o.broker, resultBackend: o.resultBackend });
}

interface CallOpts {
  broker?: string;
  resultBackend?: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  queue?: string;
  countdown?: number;
  eta?: Date;
  expires?: number;
  priority?: number;
  timeLimit?: number;
  softTimeLimit?: number;
  wait?: boolean;
  timeout?: number;
  id?: string;
  verbose?: boolean;
  check: boolean;
}

export function registerClientCommands(program: Command): void {
  brokerOption(
    program
      .command('call <task>')
      .description('enqueue a task; prints its id (with --wait: its result as JSON)')
      .option('-a, --args <json>', 'positional arguments as a JSON array', jsonArray('--args'), [])
      .option('-k, --kwargs <json>', 'keyword arguments as a JSON object', jsonObject('--kwargs'), {})
      .option('-Q, --queue <name>', 'queue to send to')
      .option('--countdown <s>', 'run no earlier than this many seconds from now', nonNegativeNumber('--countdown'))
      .option('--eta <iso>', 'run no earlier than this time', isoDate('--eta'))
      .option('--expires <s>', 'revoke if not started within this many seconds', nonNegativeNumber('--expires'))
      .option('--priority <n>', 'message priority 0-9', nonNegativeNumber('--priority'))
      .option('--time-limit <s>', 'hard time limit', nonNegativeNumber('--time-limit'))
      .option('--soft-time-limit <s>', 'soft time limit', nonNegativeNumber('--soft-time-limit'))
      .option('--id <id>', 'task id to use')
      .option('-w, --wait', 'wait for the result and print it as JSON')
      .option('-t, --timeout <s>', 'with --wait: give up after this many seconds', nonNegativeNumber('--timeout'))
      .option('-v, --verbose', "with --wait: a failed task's traceback as stored, unfiltered (a Sprig worker stores the user's frames only)")
      .option('--no-check', 'without --wait: do not ask the workers (1 s) whether one knows the task and consumes the queue'),
  ).action(async (name: string, o: CallOpts) => {
    const app = clientApp(o);
    app.configure({ sendSentEvent: true });
    try {
      const r = app.sendTask(name, o.args, o.kwargs, {
        queue: o.queue,
        countdown: o.countdown,
        eta: o.eta,
        expires: o.expires,
        priority: o.priority,
        timeLimit: o.timeLimit,
        softTimeLimit: o.softTimeLimit,
        taskId: o.id,
      });
      await r.sent;
      const queue = o.queue ?? (await app.config()).defaultQueue ?? 'celery';
      if (!o.wait) {
        process.stdout.write(`${r.id}\n`);
        if (o.check) process.exitCode = await checkCall(app, name, queue);
        return;
      }
      process.stderr.write(`${r.id}\n`);
      const watch = watchCall(app, { id: r.id, queue });
      try {
        const value = await r.get({ timeout: o.timeout });
        process.stdout.write(`${stringifyJson(value)}\n`);
      } finally {
        watch.stop();
      }
    } catch (err) {
      process.exitCode = err instanceof TimeoutError ? 1 : reportError(err, { verbose: o.verbose, taskName: name });
      if (err instanceof TimeoutError) process.stderr.write(`sprig: ${err.message}\n`);
    } finally {
      await app.close();
    }
  });

  brokerOption(
    program
      .command('result <id>')
      .description("print a task's state and result as JSON")
      .option('-w, --wait', 'wait until it is ready')
      .option('-t, --timeout <s>', 'with --wait: give up after this many seconds', nonNegativeNumber('--timeout')),
  ).action(async (id: string, o: { broker?: string; resultBackend?: string; wait?: boolean; timeout?: number }) => {
    const app = clientApp(o);
    try {
      const backend = await app.backend();
      const meta = o.wait ? await backend.waitFor(id, o.timeout === undefined ? undefined : o.timeout * 1000) : await backend.get(id);
      process.stdout.write(`${stringifyJson(await bestKnown(app, id, meta))}\n`);
    } catch (err) {
      process.exitCode = reportError(err);
    } finally {
      await app.close();
    }
  });

  brokerOption(
    program
      .command('purge')
      .description('delete every waiting message from queues (asks first)')
      .option('-Q, --queues <q1,q2>', 'queues to purge', csv, ['celery'])
      .option('-f, --force', 'do not ask'),
  ).action(async (o: { broker?: string; resultBackend?: string; queues: string[]; force?: boolean }) => {
    const app = clientApp(o);
    try {
      const broker = await app.broker();
      if (!o.force) {
        let waiting = 0;
        for (const q of o.queues) waiting += await broker.queueLength(q);
        if (waiting > 0) {
          const what = `${waiting} waiting message(s) from ${o.queues.join(', ')} on ${broker.displayUrl}`;
          if (!canPrompt()) {
            process.stderr.write(`sprig: purge would delete ${what}, and asks first; stdin is not a terminal: pass -f/--force to purge without asking\n`);
            process.exitCode = 2;
            return;
          }
          if (!(await confirm(`Delete ${what}? There is no undo.`))) {
            process.stderr.write('sprig: nothing purged\n');
            process.exitCode = 1;
            return;
          }
        }
      }
      let total = 0;
      for (const q of o.queues) total += await broker.purge(q);
      process.stdout.write(`purged ${total} message(s) from ${o.queues.join(', ')}\n`);
    } catch (err) {
      process.exitCode = reportError(err);
    } finally {
      await app.close();
    }
  });
}

/**
 * The result backend's state, bettered by the workers' own view: a task that is running (or held)
 * is PENDING in a backend until it ends (STARTED only with trackStarted), so a worker that holds it
 * (query_task) says STARTED or RECEIVED, and which worker.
 */
async function bestKnown(app: App, id: string, meta: ResultMeta | null): Promise<Partial<ResultMeta>> {
  const known: Partial<ResultMeta> = meta ?? { status: 'PENDING', result: null, task_id: id };
  if (known.status !== 'PENDING' && known.status !== 'RETRY' && known.status !== 'STARTED') return known;
  const held = await app.control.queryTask(id).catch(() => undefined);
  if (!held) return known;
  const state = heldState(held);
  // A stored RETRY stays unless the retry runs now.
  if (known.status === 'RETRY' && state !== 'STARTED') return { ...known, worker: held.hostname };
  return { ...known, status: state, worker: held.hostname };
}

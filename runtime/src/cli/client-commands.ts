import type { Command } from 'commander';
import { App } from '../app/app.js';
import { TimeoutError } from '../errors.js';
import { csv, isoDate, jsonArray, jsonObject, nonNegativeNumber } from './options.js';
import { reportError } from './report-error.js';
import { stringifyJson } from '../serialization/json.js';

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
      .option('-t, --timeout <s>', 'with --wait: give up after this many seconds', nonNegativeNumber('--timeout')),
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
      if (!o.wait) {
        process.stdout.write(`${r.id}\n`);
        return;
      }
      process.stderr.write(`${r.id}\n`);
      const value = await r.get({ timeout: o.timeout });
      process.stdout.write(`${stringifyJson(value)}\n`);
    } catch (err) {
      process.exitCode = err instanceof TimeoutError ? 1 : reportError(err);
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
      process.stdout.write(`${stringifyJson(meta ?? { status: 'PENDING', result: null, task_id: id })}\n`);
    } catch (err) {
      process.exitCode = reportError(err);
    } finally {
      await app.close();
    }
  });

  brokerOption(
    program
      .command('purge')
      .description('delete every waiting message from queues')
      .option('-Q, --queues <q1,q2>', 'queues to purge', csv, ['celery']),
  ).action(async (o: { broker?: string; resultBackend?: string; queues: string[] }) => {
    const app = clientApp(o);
    try {
      const broker = await app.broker();
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

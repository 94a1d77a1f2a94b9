/**
 * `sprig queues`: every queue on the broker with its counts (list), and purge, pause, resume and
 * dead-letter requeue: the same QueueAdmin (control/queues.ts) the monitor's Queues view uses.
 */
import type { Command } from 'commander';
import { QueueAdmin, queueName, type QueueInfo } from '../control/queues.js';
import { stringifyJson } from '../serialization/json.js';
import { brokerOption, clientApp } from './client-commands.js';
import { csv, nonNegativeNumber, positiveInt } from './options.js';
import { confirmOrRefuse } from './prompt.js';
import { reportError } from './report-error.js';
import type { App } from '../app/app.js';

interface Common {
  broker?: string;
  resultBackend?: string;
  json?: boolean;
  timeout?: number;
}

/** Run `fn` with an app on the broker, report an error the CLI way, close the app. */
function withAdmin<O extends Common>(fn: (admin: QueueAdmin, app: App, o: O, ...args: string[]) => Promise<void>) {
  return async (...a: unknown[]): Promise<void> => {
    const args = a.filter((x): x is string => typeof x === 'string');
    const o = a.find((x) => x && typeof x === 'object' && !Array.isArray(x) && !('parent' in (x as object))) as O;
    const app = clientApp(o);
    try {
      await fn(new QueueAdmin(() => app.broker(), app.control), app, o, ...args);
    } catch (err) {
      process.exitCode = reportError(err);
    } finally {
      await app.close();
    }
  };
}

const dash = (n: number | null): string => (n === null ? '-' : String(n));

/** The queues as a table: name, waiting, reserved, scheduled, dead letters, consumers. */
export function queueTable(list: readonly QueueInfo[]): string {
  const head = ['QUEUE', 'WAITING', 'RESERVED', 'SCHEDULED', 'DEAD', 'CONSUMERS'];
  const rows = list.map((q) => [q.name, String(q.waiting), dash(q.reserved), dash(q.scheduled), String(q.deadLetter), `${q.consumers}${q.workers.length ? ` (${q.workers.join(', ')})` : ''}`]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

export function registerQueuesCommand(program: Command): void {
  const queues = program.command('queues').description('the queues on the broker: list (default), purge, pause, resume, requeue dead letters');
  const common = (c: Command) => brokerOption(c).option('--json', 'print JSON').option('-t, --timeout <s>', 'seconds to wait for the workers to answer (default 1)', nonNegativeNumber('--timeout'));

  common(queues.command('list', { isDefault: true }).description('every queue with waiting, reserved, scheduled and dead-letter counts and its consumers'))
    .option('-Q, --queues <q1,q2>', 'also show these queues (the broker or a worker names the rest)', csv)
    .action(
      withAdmin<Common & { queues?: string[] }>(async (admin, app, o) => {
        const list = await admin.list({ queues: [...(o.queues ?? []).map(queueName), (await app.config()).defaultQueue ?? 'celery'], timeout: o.timeout });
        process.stdout.write(o.json ? `${stringifyJson(list)}\n` : queueTable(list));
      }),
    );

  common(queues.command('purge <queue>').description('delete the messages waiting in a queue (asks first)'))
    .option('-f, --force', 'do not ask')
    .action(
      withAdmin<Common & { force?: boolean }>(async (admin, app, o, queue) => {
        const q = queueName(queue);
        const broker = await app.broker();
        const waiting = await broker.queueLength(q);
        if (!o.force && waiting > 0 && !(await confirmOrRefuse(`delete ${waiting} waiting message(s) from ${q} on ${broker.displayUrl}`, '-f/--force'))) return;
        const n = await admin.purge(q);
        process.stdout.write(o.json ? `${stringifyJson({ queue: q, purged: n })}\n` : `purged ${n} message(s) from ${q}\n`);
      }),
    );

  for (const [name, what] of [
    ['pause', 'workers stop taking messages from a queue (cancel_consumer; what they hold still runs)'],
    ['resume', 'workers consume a queue again (add_consumer)'],
  ] as const) {
    common(queues.command(`${name} <queue>`).description(what))
      .option('-d, --destination <w1,w2>', 'only these workers', csv)
      .action(
        withAdmin<Common & { destination?: string[] }>(async (admin, _app, o, queue) => {
          const replies = await (name === 'pause' ? admin.pause(queue, o) : admin.resume(queue, o));
          if (o.json) process.stdout.write(`${stringifyJson(replies)}\n`);
          else {
            for (const r of replies) for (const [host, v] of Object.entries(r)) process.stdout.write(`->  ${host}: ${stringifyJson(v)}\n`);
            process.stdout.write(`${replies.length} worker${replies.length === 1 ? '' : 's'} answered\n`);
          }
          if (replies.length === 0) process.exitCode = 1;
        }),
      );
  }

  common(queues.command('requeue <queue>').description("put a queue's dead letters back on it, the oldest first, as the bytes that were rejected"))
    .option('--one', 'only the oldest dead letter')
    .option('-n, --max <n>', 'at most this many', positiveInt('--max'))
    .action(
      withAdmin<Common & { one?: boolean; max?: number }>(async (admin, _app, o, queue) => {
        const r = await admin.requeue(queue, { max: o.one ? 1 : o.max });
        if (o.json) process.stdout.write(`${stringifyJson({ queue, ...r })}\n`);
        else {
          process.stdout.write(`requeued ${r.requeued} dead letter(s) to ${queue}\n`);
          for (const k of r.kept) process.stdout.write(`kept one (${k.size} bytes): ${k.reason}\n`);
        }
      }),
    );
}

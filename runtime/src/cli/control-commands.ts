import type { Command } from 'commander';
import { clientApp, brokerOption } from './client-commands.js';
import { csv, nonNegativeNumber } from './options.js';
import { reportError } from './report-error.js';
import { inspectCommands, controlCommands } from '../worker/control.js';
import { stringifyJson } from '../serialization/json.js';
import { broadcastToKnown } from './known-workers.js';

interface Common {
  broker?: string;
  resultBackend?: string;
  /** Undefined: 1 s, ended early by inspect once the known workers answered. */
  timeout?: number;
  destination?: string[];
  json?: boolean;
}

function print(replies: Array<Record<string, unknown>>, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${stringifyJson(replies)}\n`);
    return;
  }
  for (const r of replies) {
    for (const [host, value] of Object.entries(r)) {
      const v = value as { ok?: unknown; error?: unknown };
      const ok = !(v && typeof v === 'object' && 'error' in v);
      process.stdout.write(`->  ${host}: ${ok ? 'OK' : 'ERROR'}\n`);
      const text = v && typeof v === 'object' && ('ok' in v || 'error' in v) && Object.keys(v).length === 1 ? String(v.ok ?? v.error) : stringifyJson(value, 2);
      process.stdout.write(text.split('\n').map((l) => `        ${l}`).join('\n') + '\n');
    }
  }
  process.stdout.write(`\n${replies.length} node${replies.length === 1 ? '' : 's'} online.\n`);
}

/** Parse `key=value` pairs and positional shortcuts into control arguments. */
function controlArgs(method: string, rest: string[]): Record<string, unknown> {
  const a: Record<string, unknown> = {};
  const positional: string[] = [];
  for (const r of rest) {
    const m = /^([a-z_]+)=(.*)$/.exec(r);
    if (m) a[m[1]!] = m[2];
    else positional.push(r);
  }
  switch (method) {
    case 'revoke':
    case 'terminate':
      if (positional.length) a.task_id = positional;
      break;
    case 'rate_limit':
      if (positional[0]) a.task_name = positional[0];
      if (positional[1]) a.rate_limit = positional[1];
      break;
    case 'time_limit':
      if (positional[0]) a.task_name = positional[0];
      if (positional[1]) a.soft = Number(positional[1]);
      if (positional[2]) a.hard = Number(positional[2]);
      break;
    case 'pool_grow':
    case 'pool_shrink':
      a.n = Number(positional[0] ?? 1);
      break;
    case 'add_consumer':
      // Celery's signature: <queue> [exchange [type [routing_key]]]
      [a.queue, a.exchange, a.exchange_type, a.routing_key] = [a.queue ?? positional[0], a.exchange ?? positional[1], a.exchange_type ?? positional[2], a.routing_key ?? positional[3]];
      break;
    case 'cancel_consumer':
      if (positional[0]) a.queue = positional[0];
      break;
    case 'autoscale':
      if (positional[0]) a.max = Number(positional[0]);
      if (positional[1]) a.min = Number(positional[1]);
      break;
  }
  return a;
}

function common(cmd: Command): Command {
  return brokerOption(cmd)
    .option('--timeout <s>', 'seconds to wait for replies (default 1; inspect ping ends sooner once the workers that answered last time have)', nonNegativeNumber('--timeout'))
    .option('-d, --destination <hosts>', 'only these workers (comma-separated hostnames)', csv)
    .option('-j, --json', 'print replies as JSON');
}

export function registerControlCommands(program: Command): void {
  const inspectNames = Object.keys(inspectCommands);
  common(
    program
      .command('inspect <method> [ids...]')
      .description(`ask workers: ${inspectNames.join(', ')} (e.g. inspect query_task <id> <id>)`),
  ).action(async (method: string, taskIds: string[], o: Common) => {
    if (!inspectCommands[method]) {
      process.stderr.write(`sprig: unknown inspect method "${method}"; use one of ${inspectNames.join(', ')}\n`);
      process.exitCode = 2;
      return;
    }
    const app = clientApp(o);
    try {
      // Celery's variadic ids (query_task).
      // ping ends once the workers this broker had last time have answered (known-workers.ts); the
      // other methods wait their window (a worker new since then must not be missed from a listing).
      const opts = { timeout: o.timeout ?? 1, destination: o.destination, arguments: taskIds.length ? { ids: taskIds } : {} };
      const replies = method === 'ping' ? await broadcastToKnown(app, method, { ...opts, exact: o.timeout !== undefined }) : await app.control.broadcast(method, opts);
      print(replies, o.json);
      if (!replies.length) {
        process.stderr.write('sprig: no worker replied (is one running on this broker?)\n');
        process.exitCode = 1;
      }
    } catch (err) {
      process.exitCode = reportError(err);
    } finally {
      await app.close();
    }
  });

  const controlNames = Object.keys(controlCommands);
  common(
    program
      .command('control <method> [args...]')
      .description(`change workers: ${controlNames.join(', ')} (e.g. control revoke <id> terminate=1, control rate_limit add 10/s, control pool_grow 2)`),
  ).action(async (method: string, rest: string[], o: Common) => {
    if (!controlCommands[method]) {
      process.stderr.write(`sprig: unknown control method "${method}"; use one of ${controlNames.join(', ')}\n`);
      process.exitCode = 2;
      return;
    }
    const app = clientApp(o);
    try {
      const args = controlArgs(method, rest);
      if (args.terminate !== undefined) args.terminate = args.terminate === '1' || args.terminate === 'true';
      const replies = await app.control.broadcast(method, { timeout: o.timeout ?? 1, destination: o.destination, arguments: args });
      print(replies, o.json);
    } catch (err) {
      process.exitCode = reportError(err);
    } finally {
      await app.close();
    }
  });
}

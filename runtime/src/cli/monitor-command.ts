import type { Command } from 'commander';
import { brokerOption, clientApp } from './client-commands.js';
import { positiveInt } from './options.js';
import { reportError } from './report-error.js';
import { MonitorServer, parseListen } from './monitor-http.js';

interface MonitorOpts {
  broker?: string;
  resultBackend?: string;
  http?: string;
  allowActions?: boolean;
  allowRemote?: boolean;
  maxTasks?: number;
}

export function registerMonitorCommand(program: Command): void {
  brokerOption(
    program
      .command('monitor')
      .description("the editor's task monitor as a web page: live tasks, queues, charts (read-only unless --allow-actions)")
      .requiredOption('--http <host:port>', 'serve it here (loopback only unless --allow-remote; port 0: any free port), e.g. 127.0.0.1:5555')
      .option('--allow-actions', 'let the page purge, pause, resume, requeue dead letters and revoke')
      .option('--allow-remote', 'serve on an address other than loopback (anyone with the URL and its token sees every task)')
      .option('--max-tasks <n>', 'tasks kept in memory (default 10000)', positiveInt('--max-tasks')),
  ).action(async (o: MonitorOpts) => {
    let listen: { host: string; port: number };
    try {
      listen = parseListen(o.http ?? '', !!o.allowRemote);
    } catch (err) {
      process.exitCode = reportError(err);
      return;
    }
    const app = clientApp(o);
    let server: MonitorServer;
    try {
      server = new MonitorServer(app, { ...listen, allowActions: o.allowActions, allowRemote: o.allowRemote, maxTasks: o.maxTasks, token: process.env.SPRIG_MONITOR_TOKEN || undefined });
      const url = await server.start();
      process.stdout.write(`Sprig monitor (${o.allowActions ? 'actions allowed' : 'read-only'}): ${url}\n`);
    } catch (err) {
      process.exitCode = reportError(err);
      await app.close().catch(() => undefined);
      return;
    }
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    await app.close();
  });
}

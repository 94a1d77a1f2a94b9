import type { Command } from 'commander';
import { commander } from './commander.js';
import { ConfigError } from '../errors.js';
import { VERSION } from '../version.js';
import { registerWorkerCommand } from './worker-command.js';
import { registerClientCommands } from './client-commands.js';
import { registerBrokerCommand } from './broker-command.js';
import { registerDemoCommand } from './demo-command.js';
import { registerEventsCommand } from './events-command.js';
import { registerControlCommands } from './control-commands.js';
import { registerMigrateCommand } from './migrate-command.js';
import { registerBeatCommand } from './beat-command.js';
import { registerRunTaskCommand } from './run-task-command.js';
import { registerQueuesCommand } from './queues-command.js';
import { registerMonitorCommand } from './monitor-command.js';
import { reportError } from './report-error.js';

function sprigProgram(): Command {
  const program = new (commander().Command)('sprig')
    .description('Sprig: a Celery-compatible task queue for TypeScript')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `sprig: ${s}` : s) });
  registerWorkerCommand(program);
  registerClientCommands(program);
  registerBrokerCommand(program);
  registerDemoCommand(program);
  registerEventsCommand(program);
  registerControlCommands(program);
  registerMigrateCommand(program);
  registerBeatCommand(program);
  registerRunTaskCommand(program);
  registerQueuesCommand(program);
  registerMonitorCommand(program);
  return program;
}

/**
 * The long flags `sprig <command>` accepts, read from its definition: what a parent that spawns
 * this runtime's CLI (the extension) may pass it, without parsing `--help` text.
 */
export function cliFlags(command: string): ReadonlySet<string> {
  const c = sprigProgram().commands.find((x) => x.name() === command);
  if (!c) throw new ConfigError(`sprig has no command ${JSON.stringify(command)}`);
  return new Set(c.options.flatMap((o) => (o.long ? [o.long] : [])));
}

/** Exit codes: 0 ok, 1 task failed / runtime error, 2 bad usage or configuration. */
export async function runCli(argv: string[]): Promise<number> {
  const program = sprigProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof commander().CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    return reportError(err);
  }
}

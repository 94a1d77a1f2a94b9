import * as path from 'node:path';
import type { Command } from 'commander';
import { findProjectDir } from '../util/paths.js';
import { nonNegativeNumber, oneOf } from './options.js';
import { reportError } from './report-error.js';

export function registerBrokerCommand(program: Command): void {
  program
    .command('broker')
    .description('run the embedded broker (127.0.0.1 only) for this project folder')
    .option('--dir <folder>', 'project folder that holds .sprig/ (default: nearest with package.json or sprig.config)')
    .option('-p, --port <port>', 'port (default: any free one)', nonNegativeNumber('--port'))
    .option('--auto', 'started on demand by a client: exit after 10 idle minutes')
    .option('--idle-exit-ms <ms>', 'exit after this long with no client (0 = never)', nonNegativeNumber('--idle-exit-ms'))
    .option('--stop', 'stop the broker running for this folder (a shutdown request; no signal needed), then exit')
    .option('--fsync <policy>', "'always' (default: a publish is acknowledged after fdatasync) or 'batch' (fdatasync every 200 ms)", oneOf('--fsync', ['always', 'batch'] as const))
    .action(async (o: { dir?: string; port?: number; auto?: boolean; idleExitMs?: number; fsync?: 'always' | 'batch'; stop?: boolean }) => {
      const dir = o.dir ? path.resolve(o.dir) : findProjectDir();
      try {
        if (o.stop) {
          const { stopEmbeddedBroker } = await import('../brokers/embedded/client.js');
          const how = await stopEmbeddedBroker(dir);
          process.stdout.write(how === 'none' ? `no embedded broker running in ${dir}\n` : `stopped the embedded broker of ${dir}${how === 'signal' ? ' (it did not answer the shutdown request: SIGTERM)' : ''}\n`);
          return;
        }
        const { runEmbeddedBroker } = await import('../brokers/embedded/server.js');
        await runEmbeddedBroker({ dir, port: o.port, auto: !!o.auto, idleExitMs: o.idleExitMs, fsync: o.fsync });
        process.exit(0);
      } catch (err) {
        process.exitCode = reportError(err);
      }
    });
}

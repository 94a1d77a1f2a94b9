import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { brokerOption, clientApp } from './client-commands.js';
import { reportError } from './report-error.js';

/** `sprig migrate`: apply the pending migrations of the postgres:// broker and/or result backend. */
export function registerMigrateCommand(program: Command): void {
  brokerOption(
    program
      .command('migrate')
      .description('create or upgrade the tables of a postgres:// broker and result backend (also done on first connect unless ?migrate=false)'),
  ).action(async (o: { broker?: string; resultBackend?: string }) => {
    try {
      const c = await clientApp(o).config();
      const urls = [...new Set([c.brokerUrl, c.resultBackend].filter((u): u is string => !!u && /^postgres(ql)?:\/\//i.test(u)))];
      if (!urls.length) throw new ConfigError('sprig migrate needs a postgres:// broker or result backend (--broker / --result-backend)');
      const { newPool, parsePostgresUrl } = await import('../brokers/postgres/connection.js');
      const { migrate, LATEST_VERSION } = await import('../brokers/postgres/migrations.js');
      for (const url of urls) {
        const info = parsePostgresUrl(url);
        const pool = newPool(info, 1);
        try {
          const applied = await migrate(pool, info.schema);
          process.stdout.write(
            `${info.displayUrl} schema ${info.schema}: ${applied.length ? `applied ${applied.join(', ')}` : 'up to date'} (version ${LATEST_VERSION})\n`,
          );
        } finally {
          await pool.end();
        }
      }
    } catch (err) {
      process.exitCode = reportError(err);
    }
  });
}

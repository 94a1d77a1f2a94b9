/** PostgreSQL test helpers: every schema is test_<uuid> and dropped after. */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

export const PG_BASE = process.env.SPRIG_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function testSchema(): string {
  return `test_${randomUUID().replace(/-/g, '_')}`;
}

export function pgUrl(schema: string, extra = ''): string {
  return `${PG_BASE}?schema=${schema}${extra ? `&${extra}` : ''}`;
}

export async function dropSchema(base: string, schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

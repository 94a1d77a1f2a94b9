import type pg from 'pg';
import { checkLeaseName, type LeaseCommitResult, type LeaseStore } from '../lease.js';
import { ident } from './connection.js';
import { insertMessages } from './publish.js';

/**
 * The beat lease on PostgreSQL (migration 2): a row per lease taken with one upsert that succeeds
 * only when the row is free, expired or already the caller's; the commit is one transaction that
 * locks the lease row (so it serializes with a takeover), checks the holder and the state fields,
 * writes them and inserts the messages (the insert trigger wakes consumers at COMMIT).
 */
export function postgresLeaseStore(pool: pg.Pool, schema: string, ready: () => Promise<void>): LeaseStore {
  const s = ident(schema);
  return {
    async acquire(name, holder, ttlMs) {
      await ready();
      const r = await pool.query(
        `INSERT INTO ${s}.beat_leases AS l (name, holder, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
         ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
           WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()
         RETURNING holder`,
        [checkLeaseName(name), holder, Math.max(1, Math.round(ttlMs))],
      );
      return r.rowCount === 1;
    },
    async release(name, holder) {
      await ready();
      await pool.query(`DELETE FROM ${s}.beat_leases WHERE name = $1 AND holder = $2`, [checkLeaseName(name), holder]);
    },
    async read(name) {
      await ready();
      const [h, st] = await Promise.all([
        pool.query<{ holder: string }>(`SELECT holder FROM ${s}.beat_leases WHERE name = $1 AND expires_at > now()`, [checkLeaseName(name)]),
        pool.query<{ field: string; value: string }>(`SELECT field, value FROM ${s}.beat_state WHERE name = $1`, [name]),
      ]);
      return { holder: h.rows[0]?.holder ?? null, state: Object.fromEntries(st.rows.map((r) => [r.field, r.value])) };
    },
    async commit(name, holder, changes, publish): Promise<LeaseCommitResult> {
      await ready();
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const lease = await client.query(`SELECT 1 FROM ${s}.beat_leases WHERE name = $1 AND holder = $2 AND expires_at > now() FOR UPDATE`, [checkLeaseName(name), holder]);
        let result: LeaseCommitResult = lease.rowCount === 1 ? 'ok' : 'not-holder';
        for (const c of result === 'ok' ? changes : []) {
          const cur = await client.query<{ value: string }>(`SELECT value FROM ${s}.beat_state WHERE name = $1 AND field = $2`, [name, c.field]);
          if ((cur.rows[0]?.value ?? null) !== c.expect) {
            result = 'conflict';
            break;
          }
        }
        if (result !== 'ok') {
          await client.query('ROLLBACK');
          return result;
        }
        for (const c of changes) {
          await client.query(
            `INSERT INTO ${s}.beat_state (name, field, value) VALUES ($1, $2, $3) ON CONFLICT (name, field) DO UPDATE SET value = EXCLUDED.value`,
            [name, c.field, c.value],
          );
        }
        if (publish.length) {
          const st = insertMessages(schema, publish);
          await client.query(st.text, st.values);
        }
        await client.query('COMMIT');
        return 'ok';
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
  };
}

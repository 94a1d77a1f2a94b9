import type pg from 'pg';
import { HOLDER_LOCK_CLASS, channels, ident } from './connection.js';

/**
 * Versioned migrations of a schema. Each runs once, in order, in one transaction with the others
 * pending, under an advisory lock (two workers starting together do not race). Never edit a
 * released migration: add the next one.
 */
export interface Migration {
  version: number;
  name: string;
  sql(schema: string): string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'messages, dead letters, replies, results',
    sql: (schema) => {
      const s = ident(schema);
      const ch = channels(schema);
      return `
CREATE TABLE ${s}.messages (
  id bigserial PRIMARY KEY,
  queue text NOT NULL,
  priority smallint NOT NULL DEFAULT 0,
  body text NOT NULL,
  -- ETA while ready, lease expiry while held
  visible_at timestamptz NOT NULL DEFAULT now(),
  -- the holder's advisory-lock id and this delivery's fencing token
  holder integer,
  lease uuid,
  deliveries integer NOT NULL DEFAULT 0,
  enqueued_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_fetch ON ${s}.messages (queue, priority DESC, id);
CREATE INDEX messages_visible ON ${s}.messages (queue, visible_at);

-- Is the holder with this id alive (its session holds its advisory lock)?
CREATE FUNCTION ${s}.holder_alive(h integer) RETURNS boolean LANGUAGE sql STABLE AS $f$
  SELECT EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND classid = ${HOLDER_LOCK_CLASS}::oid AND objid = h::oid AND objsubid = 2 AND granted
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
$f$;

-- Wake consumers at commit, whoever inserted (a caller's own transaction too).
CREATE FUNCTION ${s}.notify_messages() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM pg_notify(TG_ARGV[0], q) FROM (SELECT DISTINCT queue AS q FROM new_rows) d;
  RETURN NULL;
END
$f$;
CREATE TRIGGER messages_notify AFTER INSERT ON ${s}.messages REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.notify_messages('${ch.messages}');

-- Dead letters are messages of the queue '<queue>.dead-letter' (consumable like any queue, one
-- entry shape for every broker); this view reads them as a table.
CREATE VIEW ${s}.dead_letters AS
  SELECT id, left(queue, -12) AS queue, (body::jsonb ->> 'reason') AS reason,
         to_timestamp((body::jsonb ->> 'time')::float8) AS rejected_at, (body::jsonb ->> 'raw') AS raw
  FROM ${s}.messages WHERE queue LIKE '%.dead-letter';

CREATE TABLE ${s}.replies (
  id bigserial PRIMARY KEY,
  reply_to text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX replies_to ON ${s}.replies (reply_to, id);

CREATE TABLE ${s}.results (
  task_id text PRIMARY KEY,
  status text NOT NULL,
  meta text NOT NULL,
  date_done timestamptz,
  expires_at timestamptz
);
CREATE INDEX results_expires ON ${s}.results (expires_at) WHERE expires_at IS NOT NULL;
`;
    },
  },
  {
    version: 2,
    name: 'beat leases and their state',
    sql: (schema) => {
      const s = ident(schema);
      return `
-- sprig beat (docs/beat.md): one row per lease, its holder until expires_at (the server's clock).
CREATE TABLE ${s}.beat_leases (
  name text PRIMARY KEY,
  holder text NOT NULL,
  expires_at timestamptz NOT NULL
);
-- The state beside each lease: the last run of every schedule entry.
CREATE TABLE ${s}.beat_state (
  name text NOT NULL,
  field text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (name, field)
);
`;
    },
  },
  {
    version: 3,
    name: 'scheduled (ETA) rows out of the fetch index',
    // A row with an ETA in the future is `scheduled`: it sits only in messages_scheduled (by due
    // time), never in messages_ready, the index the fetch walks in priority order. So 100k far-ETA
    // rows cost the fetch nothing; a fetch takes due scheduled rows from their own index.
    // messages_visible goes: an insert maintains one index fewer (bulk enqueue: ~25 % of the
    // INSERT), and no index holds visible_at, holder or lease, so a fetch, a lease extension and a
    // requeue can be HOT updates. A lease that runs out is seen by the safety poll.
    sql: (schema) => {
      const s = ident(schema);
      return `
ALTER TABLE ${s}.messages ADD COLUMN scheduled boolean NOT NULL DEFAULT false;
UPDATE ${s}.messages SET scheduled = true WHERE holder IS NULL AND visible_at > now();
CREATE INDEX messages_ready ON ${s}.messages (queue, priority DESC, id) WHERE NOT scheduled;
CREATE INDEX messages_scheduled ON ${s}.messages (queue, visible_at) WHERE scheduled;
DROP INDEX ${s}.messages_fetch;
DROP INDEX ${s}.messages_visible;
`;
    },
  },
  {
    version: 4,
    name: 'notify spill: NOTIFY payloads past 8000 bytes',
    // pg_notify takes at most 8000 bytes: a bigger event or control request is written here and its
    // NOTIFY carries '#<id>'; every listener reads the row (rows older than a few minutes are deleted).
    sql: (schema) => {
      const s = ident(schema);
      return `
CREATE TABLE ${s}.notify_spill (
  id bigserial PRIMARY KEY,
  payload text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
`;
    },
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Apply the pending migrations of `schema` (up to `upTo`: tests of an upgrade); returns the versions applied. */
export async function migrate(pool: pg.Pool, schema: string, upTo = LATEST_VERSION): Promise<number[]> {
  const s = ident(schema);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [HOLDER_LOCK_CLASS - 1, schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const r = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${s}.migrations`);
    const current = r.rows[0]?.v ?? 0;
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (m.version <= current || m.version > upTo) continue;
      await client.query(m.sql(schema));
      await client.query(`INSERT INTO ${s}.migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

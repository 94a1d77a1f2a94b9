import type pg from 'pg';
import { ConfigError, ConnectionError, TimeoutError } from '../../errors.js';
import { withDeadline } from '../../util/resilience.js';
import { DEFAULT_RESULT_EXPIRES, READY_STATES, type ChordEntry, type ChordJoin, type ChordPart, type ResultBackend, type ResultMeta, type TaskState } from '../../backends/types.js';
import { encodeResultMeta } from '../redis/redis-backend.js';
import { channels, ident, isConnectionError, newPool, parsePostgresUrl, retryQuery, type PostgresUrlInfo } from './connection.js';
import { PostgresListener } from './listener.js';
import { migrate } from './migrations.js';
import { parseJson } from '../../serialization/json.js';
import { setLongTimeout } from '../../util/timers.js';

/** The results-table row of a chord's join (its parts are `<row>:<part task id>`). */
function chordRow(groupId: string): string {
  return `chord:${groupId}`;
}

export interface PostgresBackendOptions {
  /** Default expiry of stored results in seconds (Celery `result_expires`); 0: never. */
  expires?: number;
  /** How often expired results are deleted, ms (default 60 s). */
  cleanupEveryMs?: number;
  /** How long a query waits for a lost connection to come back (ms, default 30 s). */
  timeoutMs?: number;
}

type Waiter = { resolve: (m: ResultMeta) => void; reject: (err: unknown) => void; timer?: NodeJS.Timeout };

/**
 * Results in `<schema>.results` (states, results, tracebacks as Celery's meta JSON), NOTIFY on
 * store so waiters wake at commit; expired rows are invisible at once and deleted by a periodic
 * cleanup. Usable with any broker: `resultBackend: 'postgres://…'`.
 */
export class PostgresBackend implements ResultBackend {
  readonly kind = 'postgres';
  private readonly info: PostgresUrlInfo;
  private readonly pool: pg.Pool;
  private readonly s: string;
  private readonly channel: string;
  private readonly expires: number;
  private readonly waiters = new Map<string, Set<Waiter>>();
  private listener?: PostgresListener;
  private ready?: Promise<void>;
  private cleanupTimer?: NodeJS.Timeout;
  private readonly timeoutMs: number;
  private closed = false;

  constructor(urlOrInfo: string | PostgresUrlInfo, opts: PostgresBackendOptions = {}) {
    this.info = typeof urlOrInfo === 'string' ? parsePostgresUrl(urlOrInfo) : urlOrInfo;
    this.pool = newPool(this.info, Math.min(4, this.info.poolMax));
    this.s = ident(this.info.schema);
    this.channel = channels(this.info.schema).results;
    this.expires = opts.expires ?? DEFAULT_RESULT_EXPIRES;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.cleanupTimer = setInterval(() => void this.cleanup().catch(() => 0), opts.cleanupEveryMs ?? 60_000);
    this.cleanupTimer.unref();
  }

  static async fromUrl(url: string, opts: PostgresBackendOptions = {}): Promise<PostgresBackend> {
    const b = new PostgresBackend(url, opts);
    await b.connect();
    return b;
  }

  connect(): Promise<void> {
    return (this.ready ??= (async () => {
      try {
        if (this.info.migrate) await migrate(this.pool, this.info.schema);
      } catch (err) {
        this.ready = undefined;
        if (isConnectionError(err)) throw new ConnectionError(`cannot connect to PostgreSQL at ${this.info.displayUrl}: ${(err as Error).message}`, { cause: err });
        throw err;
      }
    })());
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    await this.connect();
    return retryQuery(() => this.pool.query<R>(text, values), this.timeoutMs, () => this.closed, `result query (${this.info.displayUrl})`);
  }

  async store(meta: ResultMeta, expiresSec?: number): Promise<void> {
    const expires = Math.round(expiresSec ?? this.expires);
    const { replyTo: _replyTo, ...stored } = meta;
    await this.query(
      `WITH u AS (
         INSERT INTO ${this.s}.results (task_id, status, meta, date_done, expires_at)
         VALUES ($1, $2, $3, $4, CASE WHEN $5::int > 0 THEN now() + $5::int * interval '1 second' END)
         ON CONFLICT (task_id) DO UPDATE SET status = excluded.status, meta = excluded.meta, date_done = excluded.date_done, expires_at = excluded.expires_at
         RETURNING 1)
       SELECT pg_notify($6, $1) FROM u`,
      [meta.task_id, meta.status, encodeResultMeta(stored as ResultMeta), meta.date_done, expires, this.channel],
    );
  }

  /**
   * Chord joins in the results table (no table of their own): a row `chord:<gid>` holds the size,
   * the count and who completed it; a row `chord:<gid>:<part id>` per part (inserted once: a
   * redelivered part counts once). Each part's transaction locks the chord's row first, so counts
   * never interleave; the part that makes the count reach the size reads every part back.
   */
  readonly chords: ChordJoin = {
    setSize: async (groupId: string, size: number) => {
      await this.query(
        `INSERT INTO ${this.s}.results (task_id, status, meta, expires_at)
         VALUES ($1, 'CHORD', $2, CASE WHEN $3::int > 0 THEN now() + $3::int * interval '1 second' END)
         ON CONFLICT (task_id) DO UPDATE SET meta = excluded.meta, expires_at = excluded.expires_at`,
        [chordRow(groupId), JSON.stringify({ size, count: 0, fired: null }), Math.round(this.expires)],
      );
    },
    partReturn: (part: ChordPart) => this.chordPart(part),
    /** Celery's add_to_chord: the chord's row waits for `n` more parts (its size grows, under the row's lock). */
    add: async (groupId: string, n: number) => {
      const res = await this.query(
        `UPDATE ${this.s}.results SET meta = jsonb_set(meta::jsonb, '{size}', to_jsonb((meta::jsonb->>'size')::int + $2::int))::text WHERE task_id = $1`,
        [chordRow(groupId), n],
      );
      if ((res as { rowCount?: number | null }).rowCount === 0) throw new ConfigError(`addToChord: chord ${groupId} has no join in ${this.info.displayUrl} (it finished, or expired)`);
    },
    done: async (groupId: string) => {
      await this.query(`DELETE FROM ${this.s}.results WHERE task_id = $1 OR (status = 'CHORD' AND starts_with(task_id, $2))`, [chordRow(groupId), `${chordRow(groupId)}:`]);
    },
  };

  private async chordPart(p: ChordPart): Promise<ChordEntry[] | null> {
    await this.connect();
    return retryQuery(
      async () => {
        const c = await this.pool.connect();
        try {
          await c.query('BEGIN');
          const head = await c.query<{ meta: string }>(`SELECT meta FROM ${this.s}.results WHERE task_id = $1 FOR UPDATE`, [chordRow(p.groupId)]);
          const entry = JSON.stringify({ index: p.groupIndex, taskId: p.taskId, state: p.state, result: p.result });
          const ins = await c.query(
            `INSERT INTO ${this.s}.results (task_id, status, meta, expires_at)
             VALUES ($1, 'CHORD', $2, CASE WHEN $3::int > 0 THEN now() + $3::int * interval '1 second' END)
             ON CONFLICT (task_id) DO NOTHING`,
            [`${chordRow(p.groupId)}:${p.taskId}`, entry, Math.round(this.expires)],
          );
          const isNew = ins.rowCount === 1;
          const raw = head.rows[0]?.meta;
          if (raw === undefined) {
            await c.query('COMMIT');
            return null;
          }
          const state = JSON.parse(raw) as { size: number; count: number; fired: string | null };
          if (isNew) state.count++;
          let fire = false;
          if (state.count === state.size) {
            if (state.fired === null && isNew) {
              state.fired = p.taskId;
              fire = true;
            } else fire = state.fired === p.taskId;
          }
          await c.query(`UPDATE ${this.s}.results SET meta = $2 WHERE task_id = $1`, [chordRow(p.groupId), JSON.stringify(state)]);
          let out: ChordEntry[] | null = null;
          if (fire) {
            const rows = await c.query<{ meta: string }>(`SELECT meta FROM ${this.s}.results WHERE status = 'CHORD' AND starts_with(task_id, $1)`, [`${chordRow(p.groupId)}:`]);
            out = rows.rows
              .map((r) => parseJson(r.meta) as { index: number | null; taskId: string; state: TaskState; result: unknown })
              .sort((a, b) => (a.index ?? Infinity) - (b.index ?? Infinity) || (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0))
              .map(({ taskId, state, result }) => ({ taskId, state, result }));
          }
          await c.query('COMMIT');
          return out;
        } catch (err) {
          await c.query('ROLLBACK').catch(() => undefined);
          throw err;
        } finally {
          c.release();
        }
      },
      this.timeoutMs,
      () => this.closed,
      `chord join (${this.info.displayUrl})`,
    );
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    const r = await this.query<{ meta: string }>(
      `SELECT meta FROM ${this.s}.results WHERE task_id = $1 AND (expires_at IS NULL OR expires_at > now())`,
      [taskId],
    );
    const raw = r.rows[0]?.meta;
    if (raw === undefined) return null;
    try {
      return parseJson(raw) as ResultMeta;
    } catch {
      return null;
    }
  }

  async forget(taskId: string): Promise<void> {
    await this.query(`DELETE FROM ${this.s}.results WHERE task_id = $1`, [taskId]);
  }

  /** Delete expired results; returns how many. */
  async cleanup(): Promise<number> {
    const r = await this.query(`DELETE FROM ${this.s}.results WHERE expires_at <= now()`, []);
    return r.rowCount ?? 0;
  }

  private async listen(): Promise<void> {
    if (!this.listener) {
      const l = new PostgresListener(this.info, [this.channel]);
      this.listener = l;
      l.on('notification', (_c: string, taskId: string) => void this.check(taskId));
      // Stored while we were away: look again for everyone.
      l.on('reconnect', () => {
        for (const id of this.waiters.keys()) void this.check(id);
      });
    }
    await this.connect();
    await this.listener.start();
  }

  private async check(taskId: string): Promise<void> {
    if (!this.waiters.has(taskId)) return;
    const meta = await this.get(taskId).catch(() => null);
    if (!meta || !READY_STATES.has(meta.status)) return;
    const set = this.waiters.get(taskId);
    this.waiters.delete(taskId);
    for (const w of set ?? []) {
      clearTimeout(w.timer);
      w.resolve(meta);
    }
  }

  async waitFor(taskId: string, timeoutMs: number | undefined): Promise<ResultMeta> {
    await this.listen();
    const p = new Promise<ResultMeta>((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      let set = this.waiters.get(taskId);
      if (!set) this.waiters.set(taskId, (set = new Set()));
      set.add(w);
      if (timeoutMs !== undefined) {
        w.timer = setLongTimeout(() => {
          set.delete(w);
          if (!set.size && this.waiters.get(taskId) === set) this.waiters.delete(taskId);
          reject(new TimeoutError(`no result for ${taskId} within ${timeoutMs} ms`));
        }, timeoutMs);
      }
    });
    // Listening before reading: a result stored in between is not missed.
    await this.check(taskId);
    return p;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.cleanupTimer);
    for (const set of this.waiters.values()) for (const w of set) clearTimeout(w.timer);
    this.waiters.clear();
    await withDeadline(
      (async () => {
        await this.listener?.close();
        await this.pool.end();
      })(),
      5000,
      () => new Error('close'),
    ).catch(() => undefined);
  }
}

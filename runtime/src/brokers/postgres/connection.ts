import pg from 'pg';
import { ConfigError } from '../../errors.js';
import { redactUrl } from '../../util/url.js';
import { backoff, Deadline, sleep, withDeadline } from '../../util/resilience.js';
import { ConnectionError } from '../../errors.js';

/** The options Sprig reads from a `postgres://` URL's query; the rest of the URL goes to `pg` as it is. */
export interface PostgresUrlInfo {
  /** The URL without Sprig's own query parameters (what `pg` is given). */
  connectionString: string;
  displayUrl: string;
  /** Schema of Sprig's tables (default `sprig`). */
  schema: string;
  /** Lease of a fetched message, ms (`visibility_timeout` in seconds, default 30). */
  leaseMs: number;
  /** Connections in the command pool (`pool_max`, default 10). */
  poolMax: number;
  /** Run pending migrations on connect (`migrate=false` turns it off; then run `sprig migrate`). */
  migrate: boolean;
  /** The slow safety poll while idle, ms (`poll_interval` in seconds, default 5). */
  pollMs: number;
  /**
   * Where the LISTEN session (and the holder's session advisory lock) connects: `listen_url`, a
   * direct or session-mode URL, when the main URL is a transaction-mode pooler such as PgBouncer;
   * else the main URL.
   */
  listenConnectionString: string;
  /** Named prepared statements on the hot paths (`prepared=false` turns them off: PgBouncer < 1.21 in transaction mode). */
  prepared: boolean;
}

const OWN_PARAMS = ['schema', 'visibility_timeout', 'pool_max', 'migrate', 'poll_interval', 'listen_url', 'prepared'];
const off = (v: string | null) => v === 'false' || v === '0';

export function parsePostgresUrl(url: string, visibilityTimeoutSec?: number): PostgresUrlInfo {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new ConfigError(`invalid PostgreSQL URL ${redactUrl(url)}`, { cause: err });
  }
  const q = u.searchParams;
  const num = (k: string, d: number) => {
    const v = Number(q.get(k));
    return q.has(k) && Number.isFinite(v) && v > 0 ? v : d;
  };
  const schema = q.get('schema') || 'sprig';
  if (!/^[A-Za-z_][A-Za-z0-9_-]{0,50}$/.test(schema)) throw new ConfigError(`invalid schema name ${JSON.stringify(schema)} in ${redactUrl(url)}`);
  const listenUrl = q.get('listen_url');
  const info: PostgresUrlInfo = {
    connectionString: '',
    displayUrl: '',
    schema,
    leaseMs: (visibilityTimeoutSec ?? num('visibility_timeout', 30)) * 1000,
    poolMax: Math.floor(num('pool_max', 10)),
    migrate: !off(q.get('migrate')),
    pollMs: num('poll_interval', 5) * 1000,
    listenConnectionString: '',
    prepared: !off(q.get('prepared')),
  };
  for (const k of OWN_PARAMS) q.delete(k);
  u.protocol = 'postgres:';
  info.connectionString = u.toString();
  info.displayUrl = redactUrl(url);
  info.listenConnectionString = listenUrl ? parseListenUrl(listenUrl, url) : info.connectionString;
  return info;
}

function parseListenUrl(listenUrl: string, url: string): string {
  let l: URL;
  try {
    l = new URL(listenUrl);
  } catch (err) {
    throw new ConfigError(`invalid listen_url in ${redactUrl(url)}: percent-encode it, e.g. listen_url=${encodeURIComponent('postgres://user@db-host:5432/db')}`, { cause: err });
  }
  if (!/^postgres(ql)?:$/.test(l.protocol)) throw new ConfigError(`listen_url must be a postgres:// URL (a direct or session-mode connection), not ${redactUrl(listenUrl)}`);
  for (const k of OWN_PARAMS) l.searchParams.delete(k);
  l.protocol = 'postgres:';
  return l.toString();
}

/** A quoted SQL identifier. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** LISTEN/NOTIFY channels of one schema. */
export function channels(schema: string) {
  return {
    messages: `${schema}_messages`,
    events: `${schema}_events`,
    pidbox: `${schema}_pidbox`,
    replies: `${schema}_replies`,
    results: `${schema}_results`,
  };
}

/** Advisory-lock class of Sprig's holder locks ('SPRG'); the second key is a holder's id. */
export const HOLDER_LOCK_CLASS = 0x53505247;

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);

/**
 * A lost or refused connection (retry), as opposed to an SQL error (do not): socket errors, the
 * server shutting down (57P01-57P03, class 08), and pg's own "Connection terminated".
 */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (CONNECTION_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
  const msg = typeof e.message === 'string' ? e.message : '';
  return /Connection terminated|connection not open|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(msg);
}

export function newPool(info: PostgresUrlInfo, max = info.poolMax): pg.Pool {
  const pool = new pg.Pool({ connectionString: info.connectionString, max, allowExitOnIdle: true, application_name: 'sprig' });
  // An idle client that loses its connection is dropped by the pool; without a listener it would crash the process.
  pool.on('error', () => undefined);
  return pool;
}

/** Run `fn`, retrying lost connections with backoff until `timeoutMs` has passed (or `stopped()`). */
export async function retryQuery<T>(fn: () => Promise<T>, timeoutMs: number, stopped: () => boolean, what: string): Promise<T> {
  const deadline = new Deadline(timeoutMs);
  for (let attempt = 0; ; attempt++) {
    try {
      return await withDeadline(fn(), deadline.left, () => new ConnectionError(`${what} timed out after ${timeoutMs} ms`));
    } catch (err) {
      if (!isConnectionError(err) || deadline.passed || stopped()) throw err;
      await sleep(Math.min(backoff(attempt, 50, 2000), deadline.left));
    }
  }
}

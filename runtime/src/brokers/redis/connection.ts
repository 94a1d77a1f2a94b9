import { Redis, type RedisOptions } from 'ioredis';
import { ConfigError, ConnectionError } from '../../errors.js';
import { backoff, withDeadline } from '../../util/resilience.js';
import { redactUrl } from '../../util/url.js';

export interface RedisUrlInfo {
  options: RedisOptions;
  host: string;
  port: number;
  db: number;
  /** Query parameters (kombu transport options such as `visibility_timeout`). */
  query: URLSearchParams;
  displayUrl: string;
}

/** Parse `redis://[user:password@]host[:port][/db][?options]` (and `rediss://` for TLS). */
export function parseRedisUrl(url: string): RedisUrlInfo {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`invalid Redis URL ${JSON.stringify(redactUrl(url))}`);
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme !== 'redis' && scheme !== 'rediss') throw new ConfigError(`not a Redis URL: ${redactUrl(url)}`);
  const host = decodeURIComponent(u.hostname || '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
  const port = u.port ? Number(u.port) : 6379;
  const dbPart = u.pathname.replace(/^\//, '');
  const db = dbPart ? Number(dbPart) : Number(u.searchParams.get('db') ?? 0);
  if (!Number.isInteger(db) || db < 0) throw new ConfigError(`invalid Redis database ${JSON.stringify(dbPart)} in ${redactUrl(url)}`);
  const options: RedisOptions = { host, port, db };
  if (u.username) options.username = decodeURIComponent(u.username);
  if (u.password) options.password = decodeURIComponent(u.password);
  if (scheme === 'rediss') options.tls = { servername: host };
  return { options, host, port, db, query: u.searchParams, displayUrl: redactUrl(url) };
}

/**
 * Options every Sprig connection shares: commands wait for a lost connection to come back
 * (callers bound the wait themselves), reconnects back off (jittered) up to 2 s.
 */
export function baseOptions(info: RedisUrlInfo, extra: RedisOptions = {}): RedisOptions {
  return {
    ...info.options,
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: null,
    retryStrategy: (times) => backoff(times, 50, 2000),
    ...extra,
  };
}

/** One clear line for a failed connection. */
export function describeConnectError(info: Pick<RedisUrlInfo, 'host' | 'port'>, err: unknown): string {
  const e = err as { code?: string; syscall?: string; message?: string } | undefined;
  let reason = e?.message ?? String(err);
  if (e?.syscall && e.code) reason = `${e.syscall} ${e.code}`;
  const hint = e?.code === 'ECONNREFUSED' ? ' (is redis-server running?)' : '';
  return `cannot connect to Redis at ${info.host}:${info.port}: ${reason}${hint}`;
}

/**
 * Connect `client` once; on failure stop its retries and throw a ConnectionError with one line.
 * ioredis would otherwise retry forever in the background.
 */
export async function connectOnce(client: Redis, info: Pick<RedisUrlInfo, 'host' | 'port'>): Promise<void> {
  let first: unknown;
  const onError = (err: unknown) => {
    first ??= err;
  };
  client.on('error', onError);
  try {
    if (client.status === 'wait' || client.status === 'end') await client.connect();
    else if (client.status !== 'ready') await client.ping();
  } catch (err) {
    client.disconnect();
    throw new ConnectionError(describeConnectError(info, first ?? err), { cause: first ?? err });
  } finally {
    client.off('error', onError);
  }
}

/** ioredis' errors for a connection that is gone (Redis' `connection_errors`). */
export function isConnectionError(err: unknown): boolean {
  return err instanceof ConnectionError || (err instanceof Error && /Connection is closed|Stream isn't writeable|ECONN|EPIPE/i.test(err.message));
}

/** Bound a command's wait for a lost connection; fail with ConnectionError after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string, info: Pick<RedisUrlInfo, 'host' | 'port'>): Promise<T> {
  const where = `Redis at ${info.host}:${info.port}`;
  return withDeadline(p, ms, () => new ConnectionError(`${what}: no connection to ${where} within ${Math.round(ms / 1000)} s`)).catch(
    (err: unknown) => {
      if (err instanceof ConnectionError || !isConnectionError(err)) throw err;
      throw new ConnectionError(`${what}: ${(err as Error).message} (${where})`, { cause: err });
    },
  );
}

/** A silent error listener: ioredis reports every failed reconnect as 'error'; we surface state via events. */
export function quiet(client: Redis): Redis {
  client.on('error', () => {});
  return client;
}

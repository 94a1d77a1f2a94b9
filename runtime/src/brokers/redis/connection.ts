import { Redis, type ChainableCommander, type RedisOptions } from 'ioredis';
import { ConfigError, ConnectionError } from '../../errors.js';
import { backoff, Deadline, sleep, withDeadline } from '../../util/resilience.js';
import { redactUrl } from '../../util/url.js';
import type { Logger } from '../../util/log.js';

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
  // While this first connect runs, a failure ends the client ('end') instead of leaving it
  // reconnecting in the background, so a later connectOnce (a retry on startup) starts afresh.
  const retryStrategy = client.options.retryStrategy;
  client.options.retryStrategy = () => null;
  try {
    if (['wait', 'end', 'close', 'reconnecting'].includes(client.status)) await client.connect();
    else if (client.status !== 'ready') await client.ping();
  } catch (err) {
    await new Promise<void>((resolve) => {
      if (client.status === 'end') return resolve();
      client.once('end', () => resolve());
      setTimeout(resolve, 1000).unref();
    });
    // (disconnect() on an ended client would mark the next connect as closing on purpose)
    if (client.status !== 'end') client.disconnect();
    throw new ConnectionError(describeConnectError(info, first ?? err), { cause: first ?? err });
  } finally {
    client.options.retryStrategy = retryStrategy;
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

/** What a connection-state watcher tells its owner (besides the log lines). */
export interface ConnectionStateHooks {
  lost?(): void;
  back?(): void;
  /** True once the owner closes the client on purpose (no "lost" line then). */
  closing?(): boolean;
}

/** The short reason of an ioredis error: `connect ECONNREFUSED`, or its message. */
function shortReason(err: unknown): string {
  const e = err as { code?: string; syscall?: string; message?: string } | undefined;
  return e?.syscall && e.code ? `${e.syscall} ${e.code}` : (e?.message ?? String(err));
}

/**
 * Listen to `client`'s connection and log one line per state change: lost, reconnecting (attempt
 * n; the first five, then every tenth), back. It is also the client's 'error' listener: ioredis
 * prints "[ioredis] Unhandled error event" with a stack trace for every failed reconnect of a client
 * without one.
 */
export function watchConnection(client: Redis, label: string, log: Logger, hooks: ConnectionStateHooks = {}): Redis {
  let wasReady = false;
  let down = false;
  let since = 0;
  let attempts = 0;
  let lastError: unknown;
  client.on('error', (err: unknown) => {
    lastError = err;
  });
  client.on('ready', () => {
    wasReady = true;
    if (!down) return;
    down = false;
    log.info(`connection to ${label} back after ${((Date.now() - since) / 1000).toFixed(1)} s (${attempts} reconnect attempt${attempts === 1 ? '' : 's'})`);
    hooks.back?.();
  });
  client.on('close', () => {
    if (!wasReady || down || hooks.closing?.()) return;
    down = true;
    since = Date.now();
    attempts = 0;
    log.warn(`connection to ${label} lost${lastError ? `: ${shortReason(lastError)}` : ''}; reconnecting`);
    lastError = undefined;
    hooks.lost?.();
  });
  client.on('reconnecting', (delayMs: unknown) => {
    if (!down || hooks.closing?.()) return;
    attempts++;
    if (attempts > 5 && attempts % 10 !== 0) return;
    const why = lastError ? ` (last: ${shortReason(lastError)})` : '';
    log.info(`reconnecting to ${label} (attempt ${attempts}, in ${(Number(delayMs) / 1000).toFixed(1)} s)${why}`);
  });
  return client;
}

/**
 * A connection whose commands are written at once or fail: no offline queue (ioredis would send a
 * queued command whenever Redis comes back, long after its caller was told it failed), no resend
 * after a reconnect, and a command in flight when the connection drops fails at once.
 */
export const SEND_NOW_OPTIONS: RedisOptions = { enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0 };

/** ioredis refused to write the command (no offline queue): Redis never saw it. */
function notWritten(err: unknown): boolean {
  return err instanceof Error && /enableOfflineQueue options is false/.test(err.message);
}

/** True once `client` is ready; false after `ms` (an idle client is connected first). */
export function whenReady(client: Redis, ms: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  if (client.status === 'wait' || client.status === 'end') client.connect().catch(() => undefined);
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), Math.max(0, ms));
    client.once('ready', onReady);
  });
}

/**
 * Send one pipeline on a SEND_NOW_OPTIONS connection within `timeoutMs`, with two kinds of failure:
 * "was not sent" (Redis never saw it: no connection until the deadline; safe to retry) and "may
 * still arrive" (the connection dropped or Redis did not answer after it was written). While the
 * connection is down it waits for it (within the deadline) and only then writes.
 */
export async function sendNow(
  client: Redis,
  timeoutMs: number,
  what: string,
  info: Pick<RedisUrlInfo, 'host' | 'port'>,
  build: (p: ChainableCommander) => void,
): Promise<Array<[Error | null, unknown]>> {
  const where = `Redis at ${info.host}:${info.port}`;
  const secs = Math.round(timeoutMs / 1000);
  const deadline = new Deadline(timeoutMs);
  for (;;) {
    if (!(await whenReady(client, deadline.left))) {
      throw new ConnectionError(`${what}: no connection to ${where} within ${secs} s; it was not sent`);
    }
    const p = client.pipeline();
    build(p);
    let res: Array<[Error | null, unknown]>;
    try {
      res = ((await withDeadline(p.exec(), deadline.left, () => new ConnectionError(`${what}: ${where} did not answer within ${secs} s; it may still arrive`))) ?? []) as Array<[Error | null, unknown]>;
    } catch (err) {
      if (err instanceof ConnectionError) throw err;
      if (!notWritten(err)) {
        if (!isConnectionError(err) && !/max retries per request/i.test((err as Error).message)) throw err;
        throw new ConnectionError(`${what}: the connection to ${where} dropped before Redis answered; it may still arrive`, { cause: err });
      }
      res = [[err as Error, null]];
    }
    if (!res.length || !notWritten(res[0]![0])) return res;
    // Lost between 'ready' and the write: nothing went out; wait for the connection again.
    await sleep(Math.min(50, deadline.left));
  }
}

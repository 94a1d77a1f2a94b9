import { Cluster, Redis, type ChainableCommander, type RedisOptions } from 'ioredis';
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
export async function connectOnce(client: RedisClient, info: Pick<RedisUrlInfo, 'host' | 'port'>): Promise<void> {
  let first: unknown;
  const onError = (err: unknown) => {
    first ??= err;
  };
  client.on('error', onError);
  // While this first connect runs, a failure ends the client ('end') instead of leaving it
  // reconnecting in the background, so a later connectOnce (a retry on startup) starts afresh.
  const options = client.options as { retryStrategy?: unknown; clusterRetryStrategy?: unknown };
  const strategy = client instanceof Cluster ? 'clusterRetryStrategy' : 'retryStrategy';
  const retryStrategy = options[strategy];
  options[strategy] = () => null;
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
    options[strategy] = retryStrategy;
    client.off('error', onError);
  }
}

/** ioredis' errors for a connection that is gone (Redis' `connection_errors`). */
export function isConnectionError(err: unknown): boolean {
  return err instanceof ConnectionError || (err instanceof Error && /Connection is closed|Stream isn't writeable|aborted due to connection close|ECONN|EPIPE/i.test(err.message));
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
export function quiet<T extends RedisClient>(client: T): T {
  client.on('error', () => {});
  return restartIfEnded(client);
}

/**
 * Connect `client` again when ioredis ends it without being asked to (status 'end' after it had
 * been ready, with no disconnect() or quit() from us). ioredis ends a client for good when a
 * connection attempt is aborted half-way: with Sentinel, the FailoverDetector of the connection to
 * the dead master hears `+switch-master` while a reconnect is resolving the master, calls
 * `connector.disconnect()`, the connector's connect() throws "Connection is closed" and
 * Redis.connect() sets 'end' instead of retrying (ioredis 5 and 6). The worker's connection was then
 * dead with nothing in its log: the Sentinel "early kill" stall of issue 18. `onRestart` is told first.
 */
export function restartIfEnded<T extends RedisClient>(client: T, closing: () => boolean = () => false, onRestart?: () => void): T {
  let wasReady = false;
  let onPurpose = false;
  let restarts = 0;
  const disconnect = client.disconnect.bind(client);
  const quit = client.quit.bind(client);
  client.disconnect = (reconnect?: boolean) => {
    if (!reconnect) onPurpose = true;
    return disconnect(reconnect);
  };
  client.quit = ((...a: Parameters<typeof quit>) => {
    onPurpose = true;
    return quit(...a);
  }) as typeof client.quit;
  client.on('ready', () => {
    wasReady = true;
    onPurpose = false;
    restarts = 0;
  });
  client.on('end', () => {
    if (!wasReady || onPurpose || closing()) return;
    onRestart?.();
    setTimeout(() => {
      if (client.status === 'end' && !onPurpose && !closing()) client.connect().catch(() => undefined);
    }, backoff(restarts++, 50, 2000)).unref();
  });
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
export function watchConnection<C extends Redis | Cluster>(client: C, label: string, log: Logger, hooks: ConnectionStateHooks = {}): C {
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
  restartIfEnded(client, () => !!hooks.closing?.(), () => log.warn(`connection to ${label} was ended by the Redis client during a reconnect (a failover announced meanwhile); connecting again`));
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

// ---- Sentinel and Cluster ---------------------------------------------------------------------

/** A connection to one server (or a Sentinel-watched master), or to a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** kombu's transport options (`broker_transport_options`), as Celery's config spells them. */
export type TransportOptions = Readonly<Record<string, unknown>>;

export interface RedisEndpoint {
  host: string;
  port: number;
}

/**
 * What a Redis URL points at. `single`: `redis://` (kombu's layout, byte for byte). `sentinel`:
 * kombu's `sentinel://h1:26379;sentinel://h2:26379/0` + `master_name`, the master found through
 * the sentinels (ioredis' Sentinel support: it asks them again after a drop and on +switch-master).
 * `cluster`: Sprig's `redis-cluster://h1:7001,h2:7002` (Celery has no cluster transport).
 */
export interface RedisTarget extends RedisUrlInfo {
  mode: 'single' | 'sentinel' | 'cluster';
  /** The sentinels (sentinel://) or the cluster's seed nodes (redis-cluster://). */
  endpoints: RedisEndpoint[];
  /**
   * Sprig's `wait_for_replicas`: publishes (and, on a cluster, results) wait with WAIT until this
   * many replicas have them, so a master killed just after a confirmed write loses nothing.
   * Default 1 for sentinel:// and redis-cluster://, 0 for redis://.
   */
  waitReplicas: number;
  /** `wait_for_replicas_timeout` (ms, default 200). */
  waitTimeoutMs: number;
}

const SENTINEL_DEFAULT_PORT = 26379;

function option(query: URLSearchParams, opts: TransportOptions, name: string): unknown {
  return query.get(name) ?? opts[name];
}

function nonNegative(v: unknown, name: string, fallback: number, url: string): number {
  if (v === undefined || v === null || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${name} must be a number >= 0, got ${JSON.stringify(v)} (${redactUrl(url)})`);
  return n;
}

function withReplicaWait(info: RedisUrlInfo, url: string, opts: TransportOptions, mode: RedisTarget['mode'], endpoints: RedisEndpoint[]): RedisTarget {
  const fallback = mode === 'single' ? 0 : 1;
  return {
    ...info,
    mode,
    endpoints,
    waitReplicas: Math.floor(nonNegative(option(info.query, opts, 'wait_for_replicas'), 'wait_for_replicas', fallback, url)),
    waitTimeoutMs: nonNegative(option(info.query, opts, 'wait_for_replicas_timeout'), 'wait_for_replicas_timeout', 200, url),
  };
}

/** `sentinel://[:password@]host[:port][/db][?master_name=x];sentinel://host2...` (kombu's form). */
function parseSentinelUrl(url: string, opts: TransportOptions): RedisTarget {
  const parts = url.split(';').map((s) => s.trim()).filter(Boolean);
  const endpoints: RedisEndpoint[] = [];
  const query = new URLSearchParams();
  let first: RedisUrlInfo | undefined;
  let db: number | undefined;
  let auth: { username?: string; password?: string } | undefined;
  for (const part of parts) {
    if (!/^sentinel:\/\//i.test(part)) {
      throw new ConfigError(`every URL of a Sentinel list starts with sentinel://, got ${JSON.stringify(redactUrl(part))} in ${redactUrl(url)}`);
    }
    const hasPort = /^sentinel:\/\/(?:[^@/]*@)?(?:\[[^\]]*\]|[^/:?]*):\d+/i.test(part);
    const info = parseRedisUrl(part.replace(/^sentinel:/i, 'redis:'));
    const port = hasPort ? info.port : SENTINEL_DEFAULT_PORT;
    endpoints.push({ host: info.host, port });
    first ??= info;
    if (db === undefined && /^sentinel:\/\/[^/]*\/\d/i.test(part)) db = info.db;
    if (!auth && (info.options.password || info.options.username)) auth = { username: info.options.username, password: info.options.password };
    info.query.forEach((v, k) => query.set(k, v));
  }
  if (!first) throw new ConfigError(`empty Sentinel URL ${JSON.stringify(redactUrl(url))}`);
  const masterName = option(query, opts, 'master_name');
  if (typeof masterName !== 'string' || !masterName) {
    throw new ConfigError(
      `${redactUrl(url)}: a Sentinel URL needs the master's name: add ?master_name=mymaster or set broker_transport_options.master_name (kombu's option)`,
    );
  }
  const kw = opts.sentinel_kwargs;
  if (kw !== undefined && (typeof kw !== 'object' || kw === null || Array.isArray(kw))) {
    throw new ConfigError(`sentinel_kwargs must be an object such as { password: '...' }, got ${JSON.stringify(kw)}`);
  }
  const sk = (kw ?? {}) as Record<string, unknown>;
  const options: RedisOptions = {
    sentinels: endpoints,
    name: masterName,
    db: db ?? 0,
    // Ask the sentinels again as soon as they announce a new master, not only after a drop.
    failoverDetector: true,
    sentinelRetryStrategy: (times) => backoff(times, 50, 1000),
  };
  if (auth?.username) options.username = auth.username;
  if (auth?.password) options.password = auth.password;
  if (typeof sk.password === 'string') options.sentinelPassword = sk.password;
  if (typeof sk.username === 'string') options.sentinelUsername = sk.username;
  const info: RedisUrlInfo = {
    options,
    host: `${masterName} via ${endpoints.map((e) => e.host).join(',')}`,
    port: endpoints[0]!.port,
    db: db ?? 0,
    query,
    displayUrl: parts.map(redactUrl).join(';'),
  };
  return withReplicaWait(info, url, opts, 'sentinel', endpoints);
}

/** `redis-cluster://[user:password@]host:port,host:port[/0][?options]` (`rediss-cluster://` for TLS). */
function parseClusterUrl(url: string): Omit<RedisTarget, 'waitReplicas' | 'waitTimeoutMs'> {
  const m = /^(rediss?)-cluster:\/\/(?:([^@/]*)@)?([^/?]*)(\/[^?]*)?(\?.*)?$/i.exec(url.trim());
  if (!m) throw new ConfigError(`invalid Redis Cluster URL ${JSON.stringify(redactUrl(url))}; the form is redis-cluster://host:7001,host:7002`);
  const tls = m[1]!.toLowerCase() === 'rediss';
  const endpoints = m[3]!.split(',').filter(Boolean).map((hp) => {
    const e = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hp);
    if (!e) throw new ConfigError(`invalid node ${JSON.stringify(hp)} in ${redactUrl(url)}; expected host:port`);
    return { host: e[1]!.replace(/^\[(.*)\]$/, '$1'), port: e[2] ? Number(e[2]) : 6379 };
  });
  if (!endpoints.length) throw new ConfigError(`${redactUrl(url)} names no cluster node`);
  const dbPart = (m[4] ?? '').replace(/^\//, '');
  if (dbPart && dbPart !== '0') throw new ConfigError(`a Redis Cluster has only database 0, got /${dbPart} in ${redactUrl(url)}`);
  const options: RedisOptions = {};
  if (m[2]) {
    const [user, pass] = m[2].split(':');
    if (user) options.username = decodeURIComponent(user);
    if (pass) options.password = decodeURIComponent(pass);
  }
  if (tls) options.tls = {};
  return {
    options,
    host: endpoints.map((e) => `${e.host}:${e.port}`).join(','),
    port: endpoints[0]!.port,
    db: 0,
    query: new URLSearchParams(m[5] ?? ''),
    displayUrl: redactUrl(url),
    mode: 'cluster',
    endpoints,
  };
}

/** Any Redis URL Sprig takes: redis://, rediss://, sentinel://, redis-cluster://, rediss-cluster://. */
export function parseRedisTarget(url: string, opts: TransportOptions = {}): RedisTarget {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url.trim())?.[1]?.toLowerCase();
  if (scheme === 'sentinel') return parseSentinelUrl(url, opts);
  if (scheme === 'redis-cluster' || scheme === 'rediss-cluster') {
    const c = parseClusterUrl(url);
    return withReplicaWait(c, url, opts, 'cluster', c.endpoints);
  }
  const info = parseRedisUrl(url);
  return withReplicaWait(info, url, opts, 'single', [{ host: info.host, port: info.port }]);
}

export function isRedisTargetUrl(url: string): boolean {
  return /^(rediss?|sentinel|rediss?-cluster):\/\//i.test(url.trim());
}

/** The client for `target`: a Redis (one server, or the master behind the sentinels) or a Cluster. */
export function createRedisClient(target: RedisTarget, extra: RedisOptions = {}): RedisClient {
  if (target.mode !== 'cluster') return new Redis(baseOptions(target, extra));
  const base = baseOptions(target, extra);
  return new Cluster(target.endpoints, {
    lazyConnect: true,
    scaleReads: 'master',
    enableOfflineQueue: true,
    enableAutoPipelining: extra.enableAutoPipelining,
    clusterRetryStrategy: (times) => backoff(times, 50, 2000),
    // A master's failover takes the cluster's node timeout and an election: keep redirecting.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    maxRedirections: 64,
    slotsRefreshTimeout: 2000,
    redisOptions: {
      username: base.username,
      password: base.password,
      tls: base.tls,
      connectTimeout: base.connectTimeout,
      maxRetriesPerRequest: null,
      connectionName: base.connectionName,
    },
  });
}

/** Another connection to the same place (a Cluster duplicates itself as a Cluster). */
export function duplicateClient(client: RedisClient, extra: Pick<RedisOptions, 'enableAutoPipelining'> = {}): RedisClient {
  if (client instanceof Cluster) return client.duplicate(undefined, 'enableAutoPipelining' in extra ? { enableAutoPipelining: extra.enableAutoPipelining } : {});
  return client.duplicate(extra);
}

/**
 * WAIT for replicas after writes a failover must not lose. A WAIT that times out is asked once
 * more, RETRY_FACTOR times longer (a replica slowed by a busy machine, not a missing one): a write
 * is confirmed once a replica has it, or after that second wait. Short again (no replica: the
 * master was just promoted and has none yet), waiting is turned off for SUSPEND_MS, so a shard
 * without replicas does not stall every write by the timeout.
 */
export class ReplicaWait {
  private suspendedUntil = 0;
  static readonly SUSPEND_MS = 5000;
  static readonly RETRY_FACTOR = 5;
  constructor(
    readonly replicas: number,
    readonly timeoutMs: number,
  ) {}

  /** True if this pipeline should end with WAIT. */
  get active(): boolean {
    return this.replicas > 0 && Date.now() >= this.suspendedUntil;
  }

  /**
   * After a WAIT that replied `reply` (a pipeline's last entry): short of `replicas`, `again` (a
   * WAIT on the same connection, which counts every write it made) with the longer timeout; short
   * again, or failed, waiting is suspended.
   */
  async settle(reply: unknown, again: (timeoutMs: number) => Promise<unknown>): Promise<void> {
    if (!this.short(reply)) return;
    const second = await again(this.timeoutMs * ReplicaWait.RETRY_FACTOR).catch(() => 0);
    if (this.short(second)) this.suspendedUntil = Date.now() + ReplicaWait.SUSPEND_MS;
  }

  private short(reply: unknown): boolean {
    return !(typeof reply === 'number' && reply >= this.replicas);
  }
}

/** Redis Cluster's slot of `key` (CRC16/XMODEM of the hash tag, or of the whole key, mod 16384). */
export function keySlot(key: string): number {
  let k = Buffer.from(key);
  const open = k.indexOf(0x7b); // '{'
  if (open >= 0) {
    const close = k.indexOf(0x7d, open + 1); // '}'
    if (close > open + 1) k = k.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of k) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/**
 * WAIT for replicas of the writes just made to `key`, on the connection that made them: the client
 * itself, or on a cluster the master that serves `key`'s slot (WAIT has no key; a cluster would
 * send it anywhere, and in a pipeline it would stop ioredis following a MOVED). Observed by `wait`.
 */
export async function waitForReplicas(client: RedisClient, key: string, wait: ReplicaWait): Promise<void> {
  let node: Redis | undefined;
  if (client instanceof Cluster) {
    const master = client.slots[keySlot(key)]?.[0];
    node = master ? client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === master) : undefined;
  } else node = client;
  if (!node) return; // the slot's master is unknown right now (a failover): nothing to wait on
  const master = node;
  await wait.settle(await master.wait(wait.replicas, wait.timeoutMs), (ms) => master.wait(wait.replicas, ms));
}

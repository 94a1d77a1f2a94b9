import type { Options } from 'amqplib';
import { ConfigError } from '../../errors.js';
import { redactUrl } from '../../util/url.js';

export interface AmqpUrlInfo {
  /** What amqplib's connect() takes (vhost already decoded). */
  connect: Options.Connect;
  host: string;
  port: number;
  vhost: string;
  tls: boolean;
  /** Query parameters (heartbeat, frame_max, connect_timeout ...). */
  query: URLSearchParams;
  displayUrl: string;
}

/**
 * `amqp://[user[:password]@]host[:port][/vhost][?heartbeat=60]` and `amqps://` for TLS.
 * Like kombu: an empty path and `//` both mean vhost `/`; `/%2F` too; `/foo` is `foo`.
 */
export function parseAmqpUrl(url: string): AmqpUrlInfo {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`invalid AMQP URL ${JSON.stringify(redactUrl(url))}`);
  }
  const scheme = u.protocol.replace(/:$/, '').toLowerCase();
  if (scheme !== 'amqp' && scheme !== 'amqps') throw new ConfigError(`not an AMQP URL: ${redactUrl(url)}`);
  const tls = scheme === 'amqps';
  const host = decodeURIComponent(u.hostname || '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
  const port = u.port ? Number(u.port) : tls ? 5671 : 5672;
  const path = u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : '';
  const vhost = path || '/';
  const heartbeat = Number(u.searchParams.get('heartbeat') ?? 60);
  const frameMax = Number(u.searchParams.get('frame_max') ?? u.searchParams.get('frameMax') ?? 0);
  if (!Number.isFinite(heartbeat) || heartbeat < 0) throw new ConfigError(`invalid heartbeat in ${redactUrl(url)}`);
  const connect: Options.Connect = {
    protocol: scheme,
    hostname: host,
    port,
    username: u.username ? decodeURIComponent(u.username) : 'guest',
    password: u.password ? decodeURIComponent(u.password) : 'guest',
    vhost,
    heartbeat,
    locale: 'en_US',
  };
  if (frameMax > 0) connect.frameMax = frameMax;
  return { connect, host, port, vhost, tls, query: u.searchParams, displayUrl: redactUrl(url) };
}

/** One clear line for a failed connection. */
export function describeConnectError(info: Pick<AmqpUrlInfo, 'host' | 'port'> & { vhost?: string }, err: unknown): string {
  const e = err as { code?: string | number; syscall?: string; message?: string } | undefined;
  let reason = (e?.message ?? String(err)).split('\n')[0]!;
  let hint = '';
  if (e?.syscall && typeof e.code === 'string') reason = `${e.syscall} ${e.code}`;
  if (e?.code === 'ECONNREFUSED') hint = ' (is rabbitmq-server running?)';
  else if (/ACCESS[-_]REFUSED/.test(reason)) hint = ' (check the user name and password in the broker URL)';
  else if (/Expected ConnectionOpenOk; got <ConnectionClose/.test(reason)) {
    // amqplib drops the server's text here; NOT_ALLOWED on connection.open is the vhost.
    reason = `the broker refused to open vhost ${JSON.stringify(info.vhost ?? '/')}`;
    hint = ' (does the vhost exist, and may this user use it?)';
  } else if (/Frame size \d+ exceeds|Expected ConnectionStart/.test(reason)) hint = ' (is that an AMQP port? something else answered)';
  else if (e?.code === 'ETIMEDOUT' || /timed? ?out/i.test(reason)) hint = ' (is the host reachable and the port right?)';
  return `cannot connect to RabbitMQ at ${info.host}:${info.port}: ${reason}${hint}`;
}

/** kombu's `failover_strategy` for a `;`-separated list of broker URLs. */
export type FailoverStrategy = 'round-robin' | 'shuffle';

export interface AmqpUrlList {
  /** Every node, in the order given (the first is tried first). */
  nodes: AmqpUrlInfo[];
  strategy: FailoverStrategy;
  displayUrl: string;
}

/**
 * kombu's failover list: `amqp://h1:5672//;amqp://h2:5672//` (each part a full URL). After a drop
 * the next node is tried: in turn (`round-robin`, kombu's default) or at random (`shuffle`), from
 * `?failover_strategy=` on any part or the transport options.
 */
export function parseAmqpUrlList(url: string, transportOptions: Readonly<Record<string, unknown>> = {}): AmqpUrlList {
  const parts = url.split(';').map((s) => s.trim()).filter(Boolean);
  if (!parts.length) throw new ConfigError(`empty AMQP URL ${JSON.stringify(redactUrl(url))}`);
  const nodes = parts.map(parseAmqpUrl);
  const raw = nodes.map((n) => n.query.get('failover_strategy')).find((v) => v) ?? transportOptions.failover_strategy ?? 'round-robin';
  const strategy = raw === 'round-robin' || raw === 'shuffle' ? raw : undefined;
  if (!strategy) throw new ConfigError(`failover_strategy must be "round-robin" or "shuffle", got ${JSON.stringify(raw)} (${redactUrl(url)})`);
  return { nodes, strategy, displayUrl: parts.map(redactUrl).join(';') };
}

/** The node to try after `current` failed or dropped. */
export function nextNode(list: AmqpUrlList, current: number, random: () => number = Math.random): number {
  const n = list.nodes.length;
  if (n <= 1) return 0;
  if (list.strategy === 'round-robin') return (current + 1) % n;
  const pick = Math.floor(random() * (n - 1));
  return pick >= current ? pick + 1 : pick;
}

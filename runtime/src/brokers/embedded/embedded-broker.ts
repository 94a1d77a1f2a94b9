import { ConfigError } from '../../errors.js';
import { createLogger } from '../../util/log.js';
import { findProjectDir } from '../../util/paths.js';
import type { BrokerOptions } from '../registry.js';
import { BrokerConnection } from './client.js';
import { ensureEmbeddedBroker, readBrokerInfo, type BrokerEndpoint } from './discovery.js';
import { HubBroker } from './hub-broker.js';

const DEFAULT_PUBLISH_TIMEOUT_MS = 30_000;

/** Where a `sprig://` URL points: an explicit host:port(+token), or the project's discovered broker. */
export function parseEmbeddedUrl(url: string): { host?: string; port?: number; token?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new ConfigError(`invalid embedded broker URL ${JSON.stringify(url.replace(/token=[^&]*/, 'token=***'))}`, { cause: err });
  }
  if (u.protocol !== 'sprig:') throw new ConfigError(`not an embedded broker URL (sprig://): ${u.protocol}//`);
  const token = u.searchParams.get('token') ?? undefined;
  if (!u.hostname) return { token };
  const port = Number(u.port);
  if (!Number.isInteger(port) || port <= 0) {
    throw new ConfigError(`embedded broker URL sprig://${u.hostname} needs a port (sprig://127.0.0.1:PORT?token=...)`);
  }
  return { host: u.hostname, port, token };
}

/**
 * `sprig://` — the embedded broker: discovers (or autostarts) the project's broker process; or
 * `sprig://127.0.0.1:PORT?token=...` for a given one. Durable publishes, and everything HubBroker
 * does, on one WebSocket.
 */
export class EmbeddedBroker extends HubBroker {
  declare protected readonly conn: BrokerConnection;

  constructor(url = 'sprig://', opts: BrokerOptions = {}) {
    const { displayUrl, resolve } = endpointOf(url, opts);
    super('embedded', displayUrl, new BrokerConnection({ resolve, waitTimeoutMs: opts.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS, log: createLogger('sprig.embedded') }), opts.deadLetter);
  }

  /** The port of the broker this client is connected to (tests, `sprig status`). */
  get port(): number | undefined {
    return this.conn.port;
  }
}

function endpointOf(url: string, opts: BrokerOptions): { displayUrl: string; resolve: () => Promise<BrokerEndpoint> } {
  const target = parseEmbeddedUrl(url);
  const projectDir = opts.projectDir ?? findProjectDir();
  if (target.host === undefined || target.port === undefined) {
    return { displayUrl: 'sprig://', resolve: () => ensureEmbeddedBroker({ projectDir, autostart: !opts.noAutostart }) };
  }
  const { host, port } = target;
  const displayUrl = `sprig://${host}:${port}${target.token ? '?token=***' : ''}`;
  return {
    displayUrl,
    resolve: async () => {
      // No token in the URL: take it from the project's broker.json when that describes this port.
      const token = target.token ?? (readBrokerInfo(projectDir)?.port === port ? readBrokerInfo(projectDir)?.token : undefined);
      if (!token) throw new ConfigError(`${displayUrl} has no token; use sprig://${host}:${port}?token=...`);
      return { host, port, token };
    },
  };
}

import { ConfigError } from '../errors.js';
import { redactUrl } from '../util/url.js';
import type { Broker } from './types.js';
import type { DeadLetterLimits } from './dead-letter.js';

/** @deprecated import it from `util/url.js` (or the package); this re-export goes after one release. */
export { redactUrl } from '../util/url.js';

export interface BrokerOptions {
  /** Project folder for the embedded broker's `.sprig/` (port, token, journal). */
  projectDir?: string;
  /** Redis: visibility timeout in seconds (kombu default 3600). */
  visibilityTimeout?: number;
  /** How long a publish waits for a lost connection to come back before failing (ms). */
  publishTimeoutMs?: number;
  /** Do not start an embedded broker when none runs (clients that only read). */
  noAutostart?: boolean;
  /** What a dead-letter queue keeps (dead-letter.ts; defaults 64 KiB per message, 10,000 messages). */
  deadLetter?: Partial<DeadLetterLimits>;
  /** kombu's `broker_transport_options` (Redis Sentinel: `master_name`, `sentinel_kwargs`). */
  transportOptions?: Readonly<Record<string, unknown>>;
  /** RabbitMQ: Celery 5.5's `task_default_queue_type` ('classic' | 'quorum'). */
  defaultQueueType?: string;
}

type Factory = (url: string, opts: BrokerOptions) => Promise<Broker>;

/** Transports by URL scheme (kombu's transport aliases). Adapters load lazily. */
const transports = new Map<string, Factory>([
  ['memory', async (url, o) => new (await import('./memory/memory-broker.js')).MemoryBroker(url, o)],
  ['redis', async (url, o) => new (await import('./redis/redis-broker.js')).RedisBroker(url, o)],
  ['rediss', async (url, o) => new (await import('./redis/redis-broker.js')).RedisBroker(url, o)],
  ['sentinel', async (url, o) => new (await import('./redis/redis-broker.js')).RedisBroker(url, o)],
  ['redis-cluster', async (url, o) => new (await import('./redis/redis-broker.js')).RedisBroker(url, o)],
  ['rediss-cluster', async (url, o) => new (await import('./redis/redis-broker.js')).RedisBroker(url, o)],
  ['amqp', async (url, o) => new (await import('./amqp/amqp-broker.js')).AmqpBroker(url, o)],
  ['amqps', async (url, o) => new (await import('./amqp/amqp-broker.js')).AmqpBroker(url, o)],
  ['postgres', async (url, o) => new (await import('./postgres/postgres-broker.js')).PostgresBroker(url, o)],
  ['postgresql', async (url, o) => new (await import('./postgres/postgres-broker.js')).PostgresBroker(url, o)],
  ['sprig', async (url, o) => new (await import('./embedded/embedded-broker.js')).EmbeddedBroker(url, o)],
]);

export function registerTransport(scheme: string, factory: Factory): void {
  transports.set(scheme, factory);
}

export function brokerScheme(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (!m) {
    throw new ConfigError(
      `broker URL ${JSON.stringify(url)} has no scheme; use one of ${[...transports.keys()].map((s) => `${s}://`).join(', ')}`,
    );
  }
  return m[1]!.toLowerCase();
}

/** Create (not connect) the broker for `url`. */
export async function createBroker(url: string, opts: BrokerOptions = {}): Promise<Broker> {
  const scheme = brokerScheme(url);
  const f = transports.get(scheme);
  if (!f) {
    throw new ConfigError(
      `unknown broker scheme "${scheme}://" in ${redactUrl(url)}; supported: ${[...transports.keys()].map((s) => `${s}://`).join(', ')}`,
    );
  }
  return f(url, opts);
}

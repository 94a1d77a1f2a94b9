import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { ConfigError } from '../../errors.js';
import { backoff, sleep } from '../../util/resilience.js';
import { HOLDER_LOCK_CLASS, ident, isConnectionError, type PostgresUrlInfo } from './connection.js';

/** How long the probe NOTIFY may take to reach a new LISTEN session. */
export const PROBE_TIMEOUT_MS = 10_000;

/** Send a NOTIFY from a session other than the listener's (the broker's pool). */
export type ProbeSender = (channel: string, payload: string) => Promise<unknown>;

/**
 * One dedicated session per broker: it LISTENs on the schema's channels and holds this broker's
 * holder lock (`pg_advisory_lock(SPRG, holder)`). While the session lives, every message fetched
 * under `holder` belongs to a live worker; PostgreSQL releases the lock the moment the session
 * ends (kill -9, lost network), which is how other workers learn that the holder is gone.
 * After a lost session it reconnects with backoff under a NEW holder id, and bumps `epoch`:
 * deliveries of an older epoch are stale.
 *
 * Both need a real session. Through a transaction-mode pooler (PgBouncer pool_mode=transaction)
 * LISTEN and the lock stay on a server connection that goes back to the pool: notifications go
 * nowhere and the lock outlives the worker. So before it takes the lock, a new session proves
 * that a NOTIFY sent from another connection reaches it, and refuses with the fix (`listen_url`)
 * when none comes.
 */
export class PostgresListener extends EventEmitter {
  holder = 0;
  epoch = 0;
  up = false;
  private client?: pg.Client;
  private closed = false;
  private connecting?: Promise<void>;

  constructor(
    private readonly info: PostgresUrlInfo,
    private readonly channels: readonly string[],
    private readonly sendProbe: ProbeSender = (channel, payload) => oneOffNotify(info.connectionString, channel, payload),
    private readonly probeTimeoutMs = PROBE_TIMEOUT_MS,
  ) {
    super();
  }

  start(): Promise<void> {
    return (this.connecting ??= this.open().catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    }));
  }

  private async open(): Promise<void> {
    const client = new pg.Client({ connectionString: this.info.listenConnectionString, application_name: 'sprig-listener' });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await this.probe(client);
      let holder = 0;
      for (;;) {
        holder = randomInt(1, 2 ** 31 - 1);
        const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [HOLDER_LOCK_CLASS, holder]);
        if (r.rows[0]?.ok) break;
      }
      for (const c of this.channels) await client.query(`LISTEN ${ident(c)}`);
      client.on('notification', (n) => this.emit('notification', n.channel, n.payload ?? ''));
      client.on('end', () => this.lost(client));
      client.on('error', () => this.lost(client));
      this.client = client;
      this.holder = holder;
      this.epoch++;
      this.up = true;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  /** A NOTIFY from another connection must reach this session (see the class comment). */
  private async probe(client: pg.Client): Promise<void> {
    const channel = `sprig_probe_${randomInt(1, 2 ** 31 - 1)}`;
    const token = String(randomInt(1, 2 ** 31 - 1));
    await client.query(`LISTEN ${ident(channel)}`);
    let onNote: ((n: pg.Notification) => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const heard = new Promise<boolean>((resolve) => {
      onNote = (n) => {
        if (n.channel === channel && n.payload === token) resolve(true);
      };
      client.on('notification', onNote);
      timer = setTimeout(() => resolve(false), this.probeTimeoutMs);
    });
    try {
      await this.sendProbe(channel, token);
      if (!(await heard)) {
        throw new ConfigError(
          `LISTEN does not work on ${this.info.displayUrl}${this.info.listenConnectionString === this.info.connectionString ? '' : ' (listen_url)'}: ` +
            `a NOTIFY sent from another connection did not reach the listening session within ${this.probeTimeoutMs / 1000} s. ` +
            'Is it a transaction-mode pooler (PgBouncer pool_mode=transaction)? Sprig needs one real session for LISTEN and its holder lock: ' +
            'add listen_url=<a direct or session-mode postgres:// URL, percent-encoded> to the broker URL (the rest may stay pooled), ' +
            'and prepared=false if the pooler is PgBouncer older than 1.21.',
        );
      }
      await client.query(`UNLISTEN ${ident(channel)}`);
    } finally {
      clearTimeout(timer);
      if (onNote) client.off('notification', onNote);
    }
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.up = false;
    this.epoch++;
    client.end().catch(() => undefined);
    if (this.closed) return;
    this.emit('disconnect');
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      await sleep(backoff(attempt, 100, 5000));
      if (this.closed) return;
      try {
        this.connecting = this.open();
        await this.connecting;
        if (this.closed) {
          await this.client?.end().catch(() => undefined);
          return;
        }
        this.emit('reconnect');
        return;
      } catch (err) {
        if (!isConnectionError(err) && attempt > 50) return;
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.client;
    this.client = undefined;
    this.up = false;
    if (c) await c.end().catch(() => undefined);
  }
}

async function oneOffNotify(connectionString: string, channel: string, payload: string): Promise<void> {
  const c = new pg.Client({ connectionString, application_name: 'sprig-probe' });
  c.on('error', () => undefined);
  await c.connect();
  try {
    await c.query('SELECT pg_notify($1, $2)', [channel, payload]);
  } finally {
    await c.end().catch(() => undefined);
  }
}

import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { backoff, sleep } from '../../util/resilience.js';
import { HOLDER_LOCK_CLASS, ident, isConnectionError, type PostgresUrlInfo } from './connection.js';

/**
 * One dedicated session per broker: it LISTENs on the schema's channels and holds this broker's
 * holder lock (`pg_advisory_lock(SPRG, holder)`). While the session lives, every message fetched
 * under `holder` belongs to a live worker; PostgreSQL releases the lock the moment the session
 * ends (kill -9, lost network), which is how other workers learn that the holder is gone.
 * After a lost session it reconnects with backoff under a NEW holder id, and bumps `epoch`:
 * deliveries of an older epoch are stale.
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
  ) {
    super();
  }

  start(): Promise<void> {
    return (this.connecting ??= this.open());
  }

  private async open(): Promise<void> {
    const client = new pg.Client({ connectionString: this.info.connectionString, application_name: 'sprig-listener' });
    client.on('error', () => undefined);
    await client.connect();
    try {
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

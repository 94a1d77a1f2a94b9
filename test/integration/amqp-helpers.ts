/** Shared by the amqp-*.test.ts files: unique queues, raw amqplib access, outages on demand. */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as amqp from 'amqplib';
import { AmqpBroker } from '../../runtime/src/brokers/amqp/amqp-broker.js';
import type { BrokerOptions } from '../../runtime/src/brokers/registry.js';
import { deadLetterQueueName } from '../../runtime/src/brokers/types.js';

export const AMQP_PLAIN_URL = process.env.SPRIG_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672//';
/** With queue priorities on (Celery's task_queue_max_priority = 10). */
export const AMQP_URL = `${AMQP_PLAIN_URL}?queue_max_priority=10`;
export const WIRE = path.resolve(__dirname, '../fixtures/celery-wire');
export const wire = (f: string): unknown => JSON.parse(fs.readFileSync(path.join(WIRE, f), 'utf8'));
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const run = promisify(execFile);

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** One test's world: brokers, a raw amqplib connection, queues to delete afterwards. */
export class AmqpFixture {
  readonly brokers: AmqpBroker[] = [];
  readonly queues: string[] = [];
  private rawConn?: amqp.ChannelModel;

  queue(): string {
    const q = `test-${randomUUID()}`;
    this.queues.push(q);
    return q;
  }

  async broker(opts: BrokerOptions = {}, url = AMQP_URL): Promise<AmqpBroker> {
    const b = new AmqpBroker(url, opts);
    this.brokers.push(b);
    await b.connect();
    return b;
  }

  /** A plain amqplib connection, as a Celery (kombu) peer or an admin would use. */
  async raw(): Promise<amqp.ChannelModel> {
    if (!this.rawConn) {
      this.rawConn = await amqp.connect(AMQP_URL);
      this.rawConn.on('error', () => undefined);
    }
    return this.rawConn;
  }

  /** A fresh channel (a 404/406 closes a channel: tests that provoke one get their own). */
  async channel(): Promise<amqp.ConfirmChannel> {
    const ch = await (await this.raw()).createConfirmChannel();
    ch.on('error', () => undefined);
    return ch;
  }

  async cleanup(): Promise<void> {
    for (const b of this.brokers.splice(0)) await b.close().catch(() => undefined);
    const conn = await this.raw();
    for (const q of this.queues.splice(0)) {
      for (const op of [
        (ch: amqp.Channel) => ch.deleteQueue(q),
        (ch: amqp.Channel) => ch.deleteQueue(deadLetterQueueName(q)),
        (ch: amqp.Channel) => ch.deleteExchange(q),
      ]) {
        const ch = await conn.createChannel();
        ch.on('error', () => undefined);
        await op(ch).catch(() => undefined);
        await ch.close().catch(() => undefined);
      }
    }
    await this.rawConn?.close().catch(() => undefined);
    this.rawConn = undefined;
  }
}

/**
 * Close, from the server side, the connections Sprig opened from this process (their
 * connection_name ends in `pid <pid>`) — `rabbitmqctl close_all_connections` without
 * disturbing anyone else sharing this RabbitMQ. Returns how many were closed.
 */
export async function closeOurConnections(reason = 'sprig reconnect test'): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['list_connections', '-q', '--no-table-headers', 'pid', 'client_properties']);
  const mine = stdout
    .split('\n')
    .filter((l) => l.includes(`pid ${process.pid}"`))
    .map((l) => l.split('\t')[0]!);
  for (const pid of mine) await run('rabbitmqctl', ['close_connection', pid, reason]);
  return mine.length;
}

/** A TCP proxy in front of RabbitMQ: cut() drops every connection, down() refuses new ones. */
export class TcpProxy {
  private readonly server = net.createServer((client) => this.onClient(client));
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private refusing = false;
  port = 0;

  constructor(private readonly target = { host: '127.0.0.1', port: 5672 }) {}

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}//`;
  }

  private onClient(client: net.Socket): void {
    if (this.refusing) return void client.destroy();
    const upstream = net.connect(this.target.port, this.target.host);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Outage: drop all connections and refuse new ones until up(). */
  down(): void {
    this.refusing = true;
    for (const [a, b] of [...this.pairs]) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  up(): void {
    this.refusing = false;
  }

  get connections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    this.down();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

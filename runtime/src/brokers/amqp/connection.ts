import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import * as amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, Options } from 'amqplib';
import { ConnectionError } from '../../errors.js';
import { backoff } from '../../util/resilience.js';
import { VERSION } from '../../version.js';
import { useFastFrames } from './frames.js';
import { describeConnectError, nextNode, type AmqpUrlInfo, type AmqpUrlList } from './url.js';

/** Celery's broker_connection_timeout is 4 s; an unreachable broker must fail fast. */
export const CONNECT_TIMEOUT_MS = 4000;
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 5000;

export const noop = (): void => undefined;

/** One message to publish on the confirm channel. */
export interface Outgoing {
  exchange: string;
  routingKey: string;
  body: Buffer;
  options: Options.Publish;
  /** A task queue to declare (once per connection) before publishing to it. */
  queue?: string;
}


/** amqplib's errors for a channel or connection that has gone away (RabbitMQ's `connection_errors`). */
export function isConnectionError(err: unknown): boolean {
  const e = err as { name?: string; message?: string } | null;
  return (
    e?.name === 'IllegalOperationError' ||
    /channel (closed|ended)|connection (closed|ended)|socket closed|ECONNRESET|EPIPE|Unexpected close/i.test(e?.message ?? '')
  );
}

/** The AMQP reply code of a channel error (404 NOT_FOUND, 406 PRECONDITION_FAILED ...). */
export function replyCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
}

export interface ConnectionEvents {
  /** The connection is up (again) and `setup` has run. */
  up: [model: ChannelModel, reconnected: boolean];
  down: [err: Error | undefined];
  /** A reconnect attempt is scheduled: its number (1-based), the delay, why the last one failed. */
  reconnecting: [attempt: number, delayMs: number, lastError: unknown];
}

/**
 * One AMQP connection that comes back by itself: jittered exponential backoff after a drop,
 * then `setup(model, true)` so the owner can redeclare topology and resume consumers. The first
 * connect() does not retry: an unreachable broker is reported at once, in one line.
 */
export class AmqpConnection extends EventEmitter<ConnectionEvents> {
  private model?: ChannelModel;
  private state: 'new' | 'up' | 'down' | 'closed' = 'new';
  private attempt = 0;
  private retryTimer?: NodeJS.Timeout;
  private readyWaiters = new Set<() => void>();
  /** Which node of `list` is (or is being) connected to. */
  private index = 0;

  /** `list`: kombu's failover list (several nodes of a cluster); `info` is its first node. */
  constructor(
    readonly info: AmqpUrlInfo,
    private readonly setup: (model: ChannelModel, reconnected: boolean) => Promise<void>,
    private readonly list?: AmqpUrlList,
  ) {
    super();
  }

  /** The node connected to now (or tried next). */
  get node(): AmqpUrlInfo {
    return this.list?.nodes[this.index] ?? this.info;
  }

  /** After a failed attempt or a drop: the next node of the failover list (round-robin or shuffle). */
  private switchNode(): void {
    if (this.list && this.list.nodes.length > 1) this.index = nextNode(this.list, this.index);
  }

  /** The first connect: each node of the list once, in order, until one answers (kombu does the same). */
  private async openFirst(): Promise<ChannelModel> {
    const n = this.list?.nodes.length ?? 1;
    for (let i = 0; ; i++) {
      try {
        return await this.open();
      } catch (err) {
        if (i >= n - 1) throw err;
        this.index = (this.index + 1) % n;
      }
    }
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** The live connection, or undefined while down. */
  get current(): ChannelModel | undefined {
    return this.state === 'up' ? this.model : undefined;
  }

  async connect(): Promise<void> {
    if (this.state === 'up') return;
    if (this.state === 'closed') throw new ConnectionError(`connection to RabbitMQ at ${this.where()} was closed`);
    const model = await this.openFirst();
    await this.attach(model, false);
  }

  private where(): string {
    return `${this.node.host}:${this.node.port}`;
  }

  private async open(): Promise<ChannelModel> {
    try {
      const model = await amqp.connect(this.node.connect, {
        timeout: CONNECT_TIMEOUT_MS,
        noDelay: true,
        // Shown by `rabbitmqctl list_connections client_properties` and the management UI.
        clientProperties: { connection_name: `sprig ${VERSION} ${hostname()} pid ${process.pid}` },
      });
      // Deliveries decoded by frames.ts (amqplib's own decoder when the connection is not the one it knows).
      useFastFrames((model as unknown as { connection?: unknown }).connection);
      return model;
    } catch (err) {
      throw new ConnectionError(describeConnectError(this.node, err), { cause: err });
    }
  }

  private async attach(model: ChannelModel, reconnected: boolean): Promise<void> {
    model.on('error', noop); // a 'close' always follows; that is where we act
    model.on('close', (err?: Error) => this.onClose(model, err));
    this.model = model;
    try {
      await this.setup(model, reconnected);
    } catch (err) {
      if (!reconnected) {
        await model.close().catch(noop);
        throw err instanceof ConnectionError ? err : new ConnectionError(`RabbitMQ at ${this.where()}: ${(err as Error).message}`, { cause: err });
      }
      // Setup of a reconnect failed (the connection died again?): close() leads to the next attempt.
      if (this.model === model && this.state !== 'closed') {
        await model.close().catch(noop);
        return;
      }
    }
    if (this.model !== model || this.state === 'closed') return;
    this.state = 'up';
    this.attempt = 0;
    for (const w of [...this.readyWaiters]) w();
    this.emit('up', model, reconnected);
  }

  private onClose(model: ChannelModel, err?: Error): void {
    if (model !== this.model || this.state === 'closed') return;
    const wasUp = this.state === 'up';
    this.state = 'down';
    if (wasUp) this.emit('down', err);
    this.switchNode();
    this.scheduleReconnect();
  }

  private scheduleReconnect(lastError?: unknown): void {
    if (this.state === 'closed' || this.retryTimer) return;
    const delay = backoff(this.attempt, BACKOFF_BASE_MS, BACKOFF_MAX_MS);
    this.attempt++;
    this.emit('reconnecting', this.attempt, delay, lastError);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.open().then(
        (model) => {
          if (this.state === 'closed') return void model.close().catch(noop);
          return this.attach(model, true);
        },
        (err: unknown) => {
          this.switchNode();
          this.scheduleReconnect(err);
        },
      );
    }, delay);
  }

  /** The live connection; waits up to `timeoutMs` for a lost one to come back. */
  ready(timeoutMs: number, what: string): Promise<ChannelModel> {
    if (this.state === 'up' && this.model) return Promise.resolve(this.model);
    if (this.state === 'closed') return Promise.reject(new ConnectionError(`${what}: the broker connection is closed`));
    return new Promise<ChannelModel>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.readyWaiters.delete(done);
        if (this.state === 'up' && this.model) resolve(this.model);
        else reject(new ConnectionError(`${what}: the broker connection is closed`));
      };
      const timer = setTimeout(() => {
        this.readyWaiters.delete(done);
        reject(new ConnectionError(`${what}: no connection to RabbitMQ at ${this.where()} within ${Math.round(timeoutMs / 1000)} s`));
      }, Math.max(0, timeoutMs));
      this.readyWaiters.add(done);
    });
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.retryTimer);
    for (const w of [...this.readyWaiters]) w();
    await this.model?.close().catch(noop);
  }
}

/**
 * A channel opened on demand and opened again after it closes (a channel error such as 404
 * closes only that channel) or after the connection comes back.
 */
export class ChannelSlot<T extends Channel> {
  private ch?: Promise<T>;
  private model?: ChannelModel;
  private live?: T;

  constructor(private readonly create: (model: ChannelModel) => Promise<T>) {}

  /** The open channel, if there is one right now. */
  get current(): T | undefined {
    return this.live;
  }

  get(model: ChannelModel): Promise<T> {
    if (this.ch && this.model === model) return this.ch;
    this.model = model;
    const p: Promise<T> = this.create(model).then((ch) => {
      ch.on('error', noop);
      ch.on('close', () => {
        if (this.ch === p) this.ch = undefined;
        if (this.live === ch) this.live = undefined;
      });
      if (this.ch === p) this.live = ch;
      return ch;
    });
    p.catch(() => {
      if (this.ch === p) this.ch = undefined;
    });
    this.ch = p;
    return p;
  }

  async close(): Promise<void> {
    const p = this.ch;
    this.ch = undefined;
    this.live = undefined;
    if (p) await p.then((ch) => ch.close()).catch(noop);
  }
}

export type { Channel, ChannelModel, ConfirmChannel };

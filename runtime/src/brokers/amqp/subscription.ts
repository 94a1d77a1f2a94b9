import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { noop } from './connection.js';

export interface SubscriptionSpec {
  /** Declare the queue (and bindings) on `ch`; returns the queue name. */
  declare(ch: Channel): Promise<string>;
  onMessage(m: ConsumeMessage): void;
  /** Run after the channel is closed by stop() (e.g. delete the queue). */
  cleanup?(ch: Channel): Promise<void>;
}

const RESTART_DELAY_MS = 1000;

/**
 * A no-ack consumer on its own channel (event receiver, pidbox node, rpc replies) that is set up
 * again after a reconnect — or after a channel-only error while the connection stays up.
 */
export class Subscription {
  private ch?: Channel;
  private active = true;
  private timer?: NodeJS.Timeout;
  private starting?: Promise<void>;
  queue?: string;

  constructor(
    private readonly spec: SubscriptionSpec,
    private readonly liveModel: () => ChannelModel | undefined,
    private readonly warn: (msg: string) => void,
  ) {}

  start(model: ChannelModel): Promise<void> {
    if (!this.active) return Promise.resolve();
    this.starting ??= this.open(model).finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async open(model: ChannelModel): Promise<void> {
    const old = this.ch;
    this.ch = undefined;
    if (old) await old.close().catch(noop);
    const ch = await model.createChannel();
    ch.on('error', noop);
    ch.on('close', () => {
      if (this.ch !== ch) return;
      this.ch = undefined;
      if (this.active && this.liveModel()) this.restartLater();
    });
    this.ch = ch;
    try {
      this.queue = await this.spec.declare(ch);
      const queue = this.queue;
      await ch.consume(queue, (m) => (m ? this.spec.onMessage(m) : this.onCancelled(ch, queue)), { noAck: true });
    } catch (err) {
      if (this.ch === ch) this.ch = undefined;
      await ch.close().catch(noop);
      throw err;
    }
  }

  /** basic.cancel from the server (its queue was deleted): declare and subscribe again, as after a channel error. */
  private onCancelled(ch: Channel, queue: string): void {
    if (ch !== this.ch || !this.active) return;
    this.warn(`subscription to queue ${queue} was cancelled by the broker (queue deleted?): declaring it again`);
    void ch.close().catch(noop); // its 'close' handler restarts the subscription
  }

  private restartLater(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const m = this.liveModel();
      if (!m || !this.active || this.ch) return;
      this.start(m).catch((err) => {
        this.warn(`cannot resubscribe: ${(err as Error).message}`);
        this.restartLater();
      });
    }, RESTART_DELAY_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.active = false;
    clearTimeout(this.timer);
    const ch = this.ch;
    this.ch = undefined;
    if (!ch) return;
    if (this.spec.cleanup) await this.spec.cleanup(ch).catch(noop);
    await ch.close().catch(noop);
  }
}

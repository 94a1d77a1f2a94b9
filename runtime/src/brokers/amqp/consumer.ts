import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { prefetchCount, type PrefetchWindow, type QoS } from '../qos.js';
import type { Delivery, DeliveryHandler } from '../types.js';
import { fromAmqpMessage } from './mapping.js';
import { noop } from './connection.js';
import { AckCoalescer } from './ack-coalescer.js';

/** A delivery as its consumer holds it: the channel it came on is the one that can ack it. */
export interface Held {
  ch: Channel;
  msg: ConsumeMessage;
}

/** What a consumer needs from its broker. */
export interface ConsumerHost {
  ensureQueue(queue: string, model: ChannelModel): Promise<void>;
  /** The queue is gone (the server cancelled our consumer): the next ensureQueue declares it again. */
  forgetQueue(queue: string): void;
  /** The broker's held deliveries (the prefetch window itself is RabbitMQ's basic.qos). */
  readonly qos: QoS<AmqpConsumer, Held>;
  /** The live connection, if any (to restart after a channel-only error). */
  liveModel(): ChannelModel | undefined;
  warn(msg: string): void;
  /** False for quorum queues, which refuse global QoS (prefetch is then per basic.consume). */
  readonly globalQos?: boolean;
}

let nextId = 0;
const RESTART_DELAY_MS = 1000;

/**
 * One consumer = one channel with `basic.qos(prefetch, global=true)` and a basic.consume per
 * queue. Global QoS (what Celery uses on RabbitMQ) makes the limit channel-wide over all the
 * queues, and a later basic.qos applies to the running consumers at once — per-consumer QoS
 * would only affect consumers started after it, so setPrefetch() could not grow for ETA tasks.
 */
export class AmqpConsumer implements PrefetchWindow {
  readonly id = ++nextId;
  held = 0;
  prefetch: number;
  private ch?: Channel;
  /** The live channel's acks, a turn's worth per frame. */
  private acks?: AckCoalescer;
  private consumerTags: string[] = [];
  private gen = 0;
  private active = true;
  private restartTimer?: NodeJS.Timeout;

  constructor(
    private readonly host: ConsumerHost,
    readonly queues: readonly string[],
    prefetch: number,
    private readonly handler: DeliveryHandler,
  ) {
    this.prefetch = prefetchCount(prefetch);
  }

  get isActive(): boolean {
    return this.active;
  }

  private starting?: Promise<void>;

  /** (Re)start on `model`: a new channel, QoS, basic.consume on every queue. */
  start(model: ChannelModel): Promise<void> {
    if (!this.active) return Promise.resolve();
    this.starting ??= this.open(model).finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async open(model: ChannelModel): Promise<void> {
    const gen = ++this.gen;
    await this.closeChannel();
    this.dropHeld(); // tags of an older channel can never be acked: RabbitMQ redelivers those
    const ch = await model.createChannel();
    ch.on('error', noop);
    ch.on('close', () => this.onChannelClose(ch));
    this.ch = ch;
    this.acks = new AckCoalescer(ch);
    this.consumerTags = [];
    try {
      await ch.prefetch(this.prefetch, this.host.globalQos !== false);
      for (const queue of this.queues) {
        await this.host.ensureQueue(queue, model);
        if (gen !== this.gen || !this.active) return;
        const { consumerTag } = await ch.consume(queue, (m) => this.onMessage(ch, gen, queue, m), { noAck: false });
        this.consumerTags.push(consumerTag);
      }
    } catch (err) {
      if (this.ch === ch) this.ch = undefined;
      await ch.close().catch(noop);
      throw err;
    }
  }

  /** Try start() again a little later (the connection is up but a channel failed). */
  scheduleRestart(): void {
    if (!this.active) return;
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      const m = this.host.liveModel();
      if (!m || !this.active || this.ch) return;
      this.start(m).catch((err) => {
        this.host.warn(`cannot restart consumer on ${this.queues.join(', ')}: ${(err as Error).message}`);
        this.scheduleRestart();
      });
    }, RESTART_DELAY_MS);
    this.restartTimer.unref();
  }

  private onMessage(ch: Channel, gen: number, queue: string, m: ConsumeMessage | null): void {
    if (!m) return this.onCancelled(ch, queue);
    if (!this.active || ch !== this.ch) {
      // In flight when we cancelled: give it back at once rather than holding it.
      try {
        ch.nack(m, false, true);
      } catch {
        /* channel gone: redelivered anyway */
      }
      return;
    }
    const tag = `${this.id}.${gen}.${m.fields.deliveryTag}`;
    this.acks?.delivered(m);
    this.host.qos.hold(this, tag, { ch, msg: m });
    let message: Delivery['message'];
    let error: Error | undefined;
    try {
      message = fromAmqpMessage(m, queue);
    } catch (err) {
      error = err as Error;
    }
    try {
      this.handler({ tag, queue, message, error, raw: m.content, redelivered: m.fields.redelivered });
    } catch (err) {
      this.host.warn(`delivery handler threw: ${(err as Error).message}`);
    }
  }

  /**
   * basic.cancel from the server: the queue was deleted, or a replicated queue's leader moved.
   * As kombu does (it treats it as a connection error): start again on a new channel, which
   * declares the queue again and consumes every queue. What the old channel held is redelivered.
   */
  private onCancelled(ch: Channel, queue: string): void {
    if (ch !== this.ch || !this.active) return;
    this.host.warn(`consumer on queue ${queue} was cancelled by the broker (queue deleted, or its leader moved): declaring it again and consuming on`);
    this.host.forgetQueue(queue);
    this.acks?.flush();
    this.acks = undefined;
    this.ch = undefined;
    this.dropHeld();
    void ch.close().catch(noop);
    this.scheduleRestart();
  }

  private onChannelClose(ch: Channel): void {
    if (ch !== this.ch) return;
    this.ch = undefined;
    this.acks = undefined; // unwritten acks die with it: RabbitMQ redelivers those messages
    this.dropHeld();
    // A channel-only error (the connection is still up): start again. After a connection drop
    // the broker calls start() once it is back.
    if (this.active && this.host.liveModel()) this.scheduleRestart();
  }

  /** Its channel is gone: RabbitMQ redelivers what it held, those tags can never be acked. */
  private dropHeld(): void {
    this.host.qos.drain(this);
  }

  /** The held message for `tag` if its channel is still the live one. */
  peek(tag: string): Held | undefined {
    const h = this.host.qos.get(tag);
    return h && h.owner === this && h.value.ch === this.ch ? h.value : undefined;
  }

  /** ack (or nack) once; a no-op for unknown tags and for deliveries of a dead channel. */
  settle(tag: string, how: 'ack' | 'requeue' | 'drop'): void {
    const h = this.host.qos.settle(tag)?.value;
    if (!h) return;
    if (h.ch === this.ch && this.acks) {
      try {
        if (how === 'ack') this.acks.ack(h.msg);
        else this.acks.nack(h.msg, how === 'requeue');
      } catch {
        /* the channel closed under us: RabbitMQ redelivers it */
      }
    }
    if (!this.active && this.held === 0) void this.closeChannel();
  }

  setPrefetch(n: number): void {
    this.prefetch = prefetchCount(n);
    // Per-consumer QoS (quorum queues) applies to consumers started after it: the window stays.
    this.ch?.prefetch(this.prefetch, this.host.globalQos !== false).catch(noop);
  }

  /** Stop new deliveries; the channel stays open until what is held is settled. */
  async cancel(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    clearTimeout(this.restartTimer);
    const ch = this.ch;
    if (ch) for (const t of this.consumerTags) await ch.cancel(t).catch(noop);
    this.consumerTags = [];
    if (this.held === 0) await this.closeChannel();
  }

  /** Broker close: everything not settled goes back to its queue (closing the channel does that). */
  async close(): Promise<void> {
    this.active = false;
    clearTimeout(this.restartTimer);
    this.dropHeld();
    await this.closeChannel();
  }

  /** Write the acks waiting for the next turn. */
  flushAcks(): void {
    this.acks?.flush();
  }

  private async closeChannel(): Promise<void> {
    const ch = this.ch;
    // Acks first: closing the channel with them unwritten would requeue tasks that ran.
    this.acks?.flush();
    this.acks = undefined;
    this.ch = undefined;
    if (ch) await ch.close().catch(noop);
  }
}

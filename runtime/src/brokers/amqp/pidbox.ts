/**
 * Remote control the way kombu's Mailbox does it on AMQP: broadcasts go to the `celery.pidbox`
 * fanout exchange (body = the request JSON, headers {clock, expires}); each node consumes its own
 * auto-delete queue bound to it; replies go to the `reply.celery.pidbox` direct exchange, routed
 * by the client's key into `<key>.reply.celery.pidbox`.
 */
import { randomUUID } from 'node:crypto';
import type { Channel, ChannelModel, Options } from 'amqplib';
import { controlBody, parseControl, type ControlRequest } from '../../protocol/control.js';
import { noop, type Outgoing } from './connection.js';
import { jsonBody } from './mapping.js';
import type { SubscriptionSpec } from './subscription.js';
import { ifExists, PIDBOX_EXCHANGE, PIDBOX_MESSAGE_TTL_MS, PIDBOX_QUEUE_EXPIRES_MS, pidboxReplyQueue, REPLY_EXCHANGE } from './topology.js';
import { stringifyJson } from '../../serialization/json.js';
import { setLongTimeout } from '../../util/timers.js';

/** How long a broadcast stays valid for workers (Celery: now + the client's timeout). */
const CONTROL_EXPIRES_SEC = 10;

export interface PidboxHost {
  send(what: string, items: readonly Outgoing[], before?: (model: ChannelModel) => Promise<void>): Promise<void>;
  ready(what: string): Promise<ChannelModel>;
  withChannel<T>(what: string, fn: (open: () => Promise<Channel>) => Promise<T>, model?: ChannelModel): Promise<T>;
  ensureExchange(name: string, model: ChannelModel): Promise<void>;
  subscribe(spec: SubscriptionSpec): Promise<() => Promise<void>>;
}

const json = (v: unknown) => Buffer.from(stringifyJson(v), 'utf8');

export class AmqpPidbox {
  private clock = 0;

  constructor(private readonly host: PidboxHost) {}

  async broadcast(request: ControlRequest): Promise<void> {
    const headers = { clock: ++this.clock, expires: Date.now() / 1000 + CONTROL_EXPIRES_SEC };
    const options: Options.Publish = { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2, headers };
    const r = request.reply_to;
    // The reply queue exists before anyone can answer, so no reply is routed to nowhere.
    const before = r ? (m: ChannelModel) => this.declareReplyQueue(r.exchange || REPLY_EXCHANGE, r.routing_key, m).then(noop) : undefined;
    await this.host.send('broadcast', [{ exchange: PIDBOX_EXCHANGE, routingKey: '', body: json(controlBody(request)), options }], before);
  }

  private async declareReplyQueue(exchange: string, routingKey: string, model: ChannelModel): Promise<string> {
    const queue = pidboxReplyQueue(routingKey);
    await this.host.ensureExchange(exchange, model);
    await this.host.withChannel(
      'declare reply queue',
      async (open) => {
        const ch = await open();
        await ch.assertQueue(queue, { durable: false, autoDelete: true, arguments: { 'x-expires': PIDBOX_QUEUE_EXPIRES_MS } });
        await ch.bindQueue(queue, exchange, routingKey);
      },
      model,
    );
    return queue;
  }

  /** A node's queue: `<uuid>.celery.pidbox` (Celery names it after the node; the contract has no name here). */
  subscribe(handler: (request: ControlRequest) => void): Promise<() => Promise<void>> {
    const queue = `${randomUUID()}.${PIDBOX_EXCHANGE}`;
    return this.host.subscribe({
      declare: async (ch) => {
        await ch.assertQueue(queue, {
          durable: false,
          autoDelete: true,
          arguments: { 'x-expires': PIDBOX_QUEUE_EXPIRES_MS, 'x-message-ttl': PIDBOX_MESSAGE_TTL_MS },
        });
        await ch.bindQueue(queue, PIDBOX_EXCHANGE, '');
        return queue;
      },
      onMessage: (m) => {
        const expires = (m.properties.headers as Record<string, unknown> | undefined)?.expires;
        // kombu drops expired broadcasts; 0 means none (`AsyncResult.revoke()` sends no timeout).
        if (typeof expires === 'number' && expires > 0 && expires < Date.now() / 1000) return;
        const req = parseControl(jsonBody(m));
        if (req) handler(req);
      },
    });
  }

  async reply(replyTo: { exchange: string; routing_key: string }, ticket: string, body: unknown): Promise<void> {
    const exchange = replyTo.exchange || REPLY_EXCHANGE;
    const options: Options.Publish = { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 1, headers: { ticket, clock: ++this.clock } };
    await this.host.send('reply', [{ exchange, routingKey: replyTo.routing_key, body: json(body), options }], (m) => this.host.ensureExchange(exchange, m));
  }

  /** Replies until `expected` arrived or `timeoutMs` passed; then the reply queue is deleted. */
  async collectReplies(replyTo: string, timeoutMs: number, expected?: number): Promise<unknown[]> {
    const model = await this.host.ready('collect replies');
    const queue = await this.declareReplyQueue(REPLY_EXCHANGE, replyTo, model);
    const out: unknown[] = [];
    return this.host.withChannel(
      'collect replies',
      async (open) => {
        const ch = await open();
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            resolve();
          };
          const timer = setLongTimeout(done, timeoutMs);
          ch.on('close', done);
          ch.consume(
            queue,
            (m) => {
              if (!m) return done();
              const b = jsonBody(m);
              if (b !== undefined) out.push(b);
              if (expected !== undefined && out.length >= expected) done();
            },
            { noAck: true },
          ).catch(done);
        });
        await ifExists(ch.deleteQueue(queue)).catch(noop);
        return out;
      },
      model,
    );
  }
}

import { randomUUID } from 'node:crypto';
import { encodeEnvelope, decodeEnvelope, type TransportMessage } from '../../protocol/message.js';
import { isSprigEvent, eventRoutingKey, type SprigEvent } from '../../events/types.js';
import { controlBody, parseControl, type ControlRequest } from '../../protocol/control.js';
import { parseJson, stringifyJson } from '../../serialization/json.js';

/** A kombu envelope around a JSON body (events, pidbox broadcasts and replies). */
function jsonMessage(
  body: unknown,
  headers: Record<string, unknown>,
  deliveryMode: number,
  exchange: string,
  routingKey: string,
): TransportMessage {
  return {
    headers,
    // Key order as kombu writes it.
    properties: {
      delivery_mode: deliveryMode,
      delivery_info: { exchange, routing_key: routingKey },
      priority: 0,
      body_encoding: 'base64',
      delivery_tag: randomUUID(),
    },
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    body: Buffer.from(stringifyJson(body), 'utf8'),
  };
}

/** An event as Celery publishes it on `/<db>.celeryev/<routing key>`. */
export function eventEnvelope(event: SprigEvent): { routingKey: string; raw: string } {
  const routingKey = eventRoutingKey(event.type);
  return { routingKey, raw: encodeEnvelope(jsonMessage(event, { hostname: event.hostname }, 1, 'celeryev', routingKey)) };
}

/** A pidbox broadcast (`/<db>.celery.pidbox`): headers {clock, expires}. */
export function controlEnvelope(request: ControlRequest, clock: number, expires: number): string {
  return encodeEnvelope(jsonMessage(controlBody(request), { clock, expires }, 2, 'celery.pidbox', ''));
}

/** A pidbox reply, LPUSHed to `<routing_key>.reply.celery.pidbox`: headers {ticket, clock}. */
export function replyEnvelope(routingKey: string, exchange: string, ticket: string, clock: number, body: unknown): string {
  return encodeEnvelope(jsonMessage(body, { ticket, clock }, 1, exchange || 'reply.celery.pidbox', routingKey));
}

/** The JSON body of a kombu envelope, or undefined when it is not one. */
export function envelopeBody(raw: string | Buffer): { body: unknown; headers: Record<string, unknown> } | undefined {
  try {
    const msg = decodeEnvelope(raw);
    if (!/json/.test(msg.contentType)) return undefined;
    return { body: parseJson(msg.body.toString('utf8')), headers: msg.headers };
  } catch {
    return undefined;
  }
}

/** Events in an envelope: one event, or a list of them (Celery's `task.multi` batches). */
export function decodeEvents(raw: string | Buffer): SprigEvent[] {
  const got = envelopeBody(raw);
  if (!got) return [];
  const list = Array.isArray(got.body) ? (got.body as unknown[]) : [got.body];
  return list.filter(isSprigEvent);
}

export function decodeControl(raw: string | Buffer): ControlRequest | undefined {
  return parseControl(envelopeBody(raw)?.body);
}

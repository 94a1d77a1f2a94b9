/**
 * TransportMessage ⇄ AMQP basic properties, as kombu's pyamqp transport maps them: the body is
 * the raw serialized bytes, the protocol-v2 headers are the AMQP header table, and the kombu
 * envelope's properties become AMQP properties (correlation_id → correlationId, ...).
 */
import type { ConsumeMessage, Options } from 'amqplib';
import type { MessageProperties, TransportMessage } from '../../protocol/message.js';
import { DecodeError } from '../../errors.js';
import { parseJson } from '../../serialization/json.js';

const AMQP_PROPERTY = new Map<string, keyof Options.Publish>([
  ['correlation_id', 'correlationId'],
  ['correlationId', 'correlationId'],
  ['reply_to', 'replyTo'],
  ['replyTo', 'replyTo'],
  ['message_id', 'messageId'],
  ['app_id', 'appId'],
  ['user_id', 'userId'],
  ['type', 'type'],
  ['timestamp', 'timestamp'],
]);

/** amqplib cannot encode `undefined` (nor functions) in a field table: drop them, deeply. */
export function tableSafe(v: unknown): unknown {
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return undefined;
  if (typeof v === 'bigint') return Number(v);
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map((x) => tableSafe(x) ?? null);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const s = tableSafe(x);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

/** AMQP publish options for a task (or any) message. */
export function toPublishOptions(msg: TransportMessage): Options.Publish {
  const p = msg.properties ?? {};
  const o: Options.Publish = {
    contentType: msg.contentType,
    contentEncoding: msg.contentEncoding,
    headers: tableSafe(msg.headers ?? {}) as Record<string, unknown>,
    deliveryMode: typeof p.delivery_mode === 'number' ? p.delivery_mode : 2,
  };
  if (typeof p.priority === 'number' && Number.isFinite(p.priority)) o.priority = Math.max(0, Math.min(255, Math.trunc(p.priority)));
  if (p.expiration !== undefined && p.expiration !== null && p.expiration !== '') {
    const ms = Math.max(0, Math.trunc(Number(p.expiration)));
    if (Number.isFinite(ms)) o.expiration = String(ms);
  }
  // Envelope-only properties (body_encoding, delivery_tag, delivery_info) have no AMQP field.
  const opts = o as Record<string, unknown>;
  for (const [k, v] of Object.entries(p)) {
    const to = AMQP_PROPERTY.get(k);
    if (!to || opts[to] !== undefined || v === undefined || v === null || v === '') continue;
    opts[to] = to === 'timestamp' ? Number(v) : String(v);
  }
  return o;
}

/** The TransportMessage in an AMQP delivery; properties get kombu's snake_case names. */
export function fromAmqpMessage(m: ConsumeMessage, queue: string): TransportMessage {
  if (!m || !Buffer.isBuffer(m.content)) throw new DecodeError('AMQP delivery without a body');
  const a = m.properties ?? ({} as ConsumeMessage['properties']);
  const rawHeaders: unknown = a.headers ?? {};
  if (rawHeaders === null || typeof rawHeaders !== 'object' || Array.isArray(rawHeaders)) {
    throw new DecodeError('AMQP header table is not a table');
  }
  const properties: MessageProperties = {
    delivery_mode: typeof a.deliveryMode === 'number' ? a.deliveryMode : 1,
    delivery_info: { exchange: m.fields.exchange, routing_key: m.fields.routingKey || queue },
    priority: typeof a.priority === 'number' ? a.priority : 0,
  };
  if (a.correlationId !== undefined) properties.correlation_id = String(a.correlationId);
  if (a.replyTo !== undefined) properties.reply_to = String(a.replyTo);
  if (a.expiration !== undefined) properties.expiration = String(a.expiration);
  if (a.messageId !== undefined) properties.message_id = a.messageId;
  if (a.timestamp !== undefined) properties.timestamp = a.timestamp;
  if (a.type !== undefined) properties.type = a.type;
  if (a.appId !== undefined) properties.app_id = a.appId;
  if (a.userId !== undefined) properties.user_id = a.userId;
  properties.delivery_tag = String(m.fields.deliveryTag);
  return {
    headers: { ...(rawHeaders as Record<string, unknown>) },
    properties,
    contentType: typeof a.contentType === 'string' && a.contentType ? a.contentType : 'application/json',
    contentEncoding: typeof a.contentEncoding === 'string' && a.contentEncoding ? a.contentEncoding : 'utf-8',
    body: m.content,
  };
}

/** A JSON body, or undefined when it is something else. */
export function jsonBody(m: ConsumeMessage): unknown {
  const ct = m.properties.contentType;
  if (typeof ct === 'string' && ct && !/json/i.test(ct)) return undefined;
  try {
    return parseJson(m.content.toString('utf8'));
  } catch {
    return undefined;
  }
}


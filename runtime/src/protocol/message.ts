/**
 * Celery message protocol v2: build and parse task messages.
 * https://docs.celeryq.dev/en/stable/internals/protocol.html#version-2
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ProtocolError, DecodeError, MessageTooLargeError, ContentDisallowedError } from '../errors.js';
import { jsonSerializer, serializers } from '../serialization/registry.js';
import { compressors } from '../compression/registry.js';
import { pyrepr, pyreprArgs } from './pyrepr.js';
import { parseIso, toCeleryIso } from './time.js';
import { parseJson, stringifyJson } from '../serialization/json.js';
import { parseEmbed, type Embed } from './signature.js';

export interface TaskHeaders {
  lang: string;
  task: string;
  id: string;
  shadow: string | null;
  eta: string | null;
  expires: string | null;
  group: string | null;
  group_index: number | null;
  retries: number;
  timelimit: [number | null, number | null];
  root_id: string | null;
  parent_id: string | null;
  argsrepr: string;
  kwargsrepr: string;
  origin: string;
  ignore_result: boolean;
  compression?: string;
  [extra: string]: unknown;
}

export interface MessageProperties {
  correlation_id?: string;
  reply_to?: string;
  delivery_mode?: number;
  delivery_info?: { exchange: string; routing_key: string };
  priority?: number;
  body_encoding?: string;
  delivery_tag?: string;
  /** Milliseconds as a string (AMQP per-message TTL), set when `expires` is. */
  expiration?: string;
  [extra: string]: unknown;
}

/** A message as every broker carries it: headers, properties and the encoded body bytes. */
export interface TransportMessage {
  headers: Record<string, unknown>;
  properties: MessageProperties;
  contentType: string;
  contentEncoding: string;
  /** Serialized (and possibly compressed) body, exactly as on the wire. */
  body: Buffer;
}

/** The body's third element: what runs after the task (protocol/signature.ts). */
export type EmbedOptions = Embed;

export interface BuildTaskOptions {
  id?: string;
  name: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  queue?: string;
  exchange?: string;
  countdown?: number;
  eta?: Date | string;
  /** Seconds from now, or an absolute time. */
  expires?: number | Date | string;
  priority?: number;
  retries?: number;
  timeLimit?: number | null;
  softTimeLimit?: number | null;
  rootId?: string | null;
  parentId?: string | null;
  groupId?: string | null;
  /** Its place in its group (a chord's header is ordered by it). */
  groupIndex?: number | null;
  replyTo?: string;
  ignoreResult?: boolean;
  serializer?: string;
  compression?: string;
  /** Below this many bytes the body is not compressed. */
  compressionThreshold?: number;
  shadow?: string | null;
  origin?: string;
  headers?: Record<string, unknown>;
  embed?: Partial<EmbedOptions>;
  now?: number;
}

let cachedOrigin: string | undefined;
export function defaultOrigin(): string {
  return (cachedOrigin ??= `gen${process.pid}@${hostname()}`);
}

/** Build a protocol-v2 task message. */
export function buildTaskMessage(o: BuildTaskOptions): TransportMessage {
  const now = o.now ?? Date.now();
  const id = o.id ?? randomUUID();
  const args = o.args ?? [];
  const kwargs = o.kwargs ?? {};
  if (!Array.isArray(args)) throw new ProtocolError(`args must be an array, got ${typeof args}`);
  if (kwargs === null || typeof kwargs !== 'object' || Array.isArray(kwargs)) throw new ProtocolError('kwargs must be an object');
  let eta: Date | null = null;
  if (o.eta !== undefined) eta = o.eta instanceof Date ? o.eta : parseIso(o.eta);
  else if (o.countdown !== undefined && o.countdown > 0) eta = new Date(now + o.countdown * 1000);
  let expires: Date | null = null;
  if (typeof o.expires === 'number') expires = new Date(now + o.expires * 1000);
  else if (o.expires !== undefined) expires = o.expires instanceof Date ? o.expires : parseIso(o.expires);

  if (eta && Number.isNaN(eta.getTime())) throw new ProtocolError(`invalid eta or countdown: ${String(o.eta ?? o.countdown)}`);
  if (expires && Number.isNaN(expires.getTime())) throw new ProtocolError(`invalid expires: ${String(o.expires)}`);
  const queue = o.queue ?? 'celery';
  const serializer = serializers.get(o.serializer ?? 'json');
  const embed: EmbedOptions = { callbacks: null, errbacks: null, chain: null, chord: null, ...o.embed };
  const headers: TaskHeaders = {
    lang: 'js',
    task: o.name,
    id,
    shadow: o.shadow ?? null,
    eta: eta ? toCeleryIso(eta) : null,
    expires: expires ? toCeleryIso(expires) : null,
    group: o.groupId ?? null,
    group_index: o.groupIndex ?? null,
    retries: o.retries ?? 0,
    timelimit: [o.timeLimit ?? null, o.softTimeLimit ?? null],
    root_id: o.rootId ?? id,
    parent_id: o.parentId ?? null,
    argsrepr: pyreprArgs(args),
    kwargsrepr: pyrepr(kwargs),
    origin: o.origin ?? defaultOrigin(),
    ignore_result: o.ignoreResult ?? false,
    ...o.headers,
  };
  // Encoded after the headers exist: a signing serializer binds them to the body.
  let body = serializer.encode([args, kwargs, embed], { headers });
  if (o.compression && body.length >= (o.compressionThreshold ?? 0)) {
    const c = compressors.get(o.compression);
    body = c.compress(body);
    headers.compression = c.contentType;
  }
  const properties: MessageProperties = {
    correlation_id: id,
    reply_to: o.replyTo ?? '',
    delivery_mode: 2,
    delivery_info: { exchange: o.exchange ?? '', routing_key: queue },
    priority: o.priority ?? 0,
    body_encoding: 'base64',
    delivery_tag: randomUUID(),
  };
  if (expires) properties.expiration = String(Math.max(0, expires.getTime() - now));
  return { headers, properties, contentType: serializer.contentType, contentEncoding: serializer.contentEncoding, body };
}

/** The headers of Celery's message protocol v2 (and kombu's); any other header is the caller's own. */
const PROTOCOL_HEADERS = new Set([
  'lang', 'task', 'id', 'shadow', 'eta', 'expires', 'group', 'group_index', 'retries', 'timelimit', 'root_id', 'parent_id',
  'argsrepr', 'kwargsrepr', 'origin', 'ignore_result', 'compression', 'replaced_task_nesting', 'stamped_headers', 'stamps',
]);
const NO_HEADERS: Readonly<Record<string, unknown>> = Object.freeze({});

/** The caller's own headers of a task message (`apply_async(headers=...)`), without the protocol's. */
export function customHeaders(headers: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  let out: Record<string, unknown> | undefined;
  // for-in, not Object.keys: no array per task (a header object is plain JSON: no inherited keys).
  for (const k in headers) {
    if (!Object.prototype.hasOwnProperty.call(headers, k)) continue;
    if (PROTOCOL_HEADERS.has(k)) continue;
    // defineProperty: a "__proto__" header stays a key and never becomes a prototype.
    Object.defineProperty((out ??= {}), k, { value: headers[k], enumerable: true, writable: true, configurable: true });
  }
  return out ?? NO_HEADERS;
}

/** A decoded task request, ready to execute. */
export interface TaskRequest {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** Checked at parse time: a malformed signature dead-letters the message. */
  embed: Embed;
  retries: number;
  eta: Date | null;
  expires: Date | null;
  timeLimit: number | null;
  softTimeLimit: number | null;
  rootId: string | null;
  parentId: string | null;
  groupId: string | null;
  groupIndex: number | null;
  replyTo: string | null;
  correlationId: string | null;
  ignoreResult: boolean;
  priority: number;
  origin: string | null;
  argsrepr: string;
  kwargsrepr: string;
  headers: Record<string, unknown>;
  properties: MessageProperties;
  contentType: string;
  contentEncoding: string;
}

export interface ParseOptions {
  /** Allowed content types (names resolved by the caller). Undefined: anything registered. */
  accept?: ReadonlySet<string>;
  /** Largest body (after decompression) we will decode. */
  maxBodyBytes?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

function asStringOrNull(v: unknown): string | null {
  return typeof v === 'string' && v !== 'undefined' ? v : null;
}

/**
 * Header checks. Every header a worker acts on is checked here, once: a message whose headers
 * would make the worker throw later (an `eta` that is no date, a time limit that is no number)
 * is refused now with a reason, so it is dead-lettered instead of killing the worker each time
 * it is redelivered.
 */
function bad(name: string, v: unknown, want: string): ProtocolError {
  let shown: string;
  try {
    shown = typeof v === 'bigint' ? `${v}` : (JSON.stringify(v) ?? String(v));
  } catch {
    shown = String(v);
  }
  return new ProtocolError(`invalid ${name} header ${shown.length > 80 ? `${shown.slice(0, 80)}...` : shown}: ${want}`, { code: 'E_BAD_HEADER' });
}

function timeHeader(h: Record<string, unknown>, name: 'eta' | 'expires'): Date | null {
  const v = h[name];
  if (v === null || v === undefined || v === '' || v === 'undefined') return null;
  const d = typeof v === 'string' || typeof v === 'number' ? parseIso(v) : null;
  if (!d || Number.isNaN(d.getTime())) throw bad(name, v, 'expected an ISO 8601 date and time');
  return d;
}

function optionalString(h: Record<string, unknown>, name: string): string | null {
  const v = h[name];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw bad(name, v, 'expected a string or null');
  return asStringOrNull(v);
}

/** Seconds of a time limit: null (none) or a finite number >= 0 (0: none, as in Celery). */
function limitSeconds(v: unknown, name: string): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(name, v, 'expected a number of seconds >= 0 or null');
  return v === 0 ? null : v;
}

function timeLimits(h: Record<string, unknown>): [number | null, number | null] {
  const tl = h.timelimit;
  if (tl === null || tl === undefined) return [null, null];
  if (!Array.isArray(tl) || tl.length > 2) throw bad('timelimit', tl, 'expected [hard, soft]');
  return [limitSeconds(tl[0], 'timelimit'), limitSeconds(tl[1], 'timelimit')];
}

function retriesHeader(h: Record<string, unknown>): number {
  const v = h.retries;
  if (v === null || v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad('retries', v, 'expected an integer >= 0');
  return v;
}

function groupIndexHeader(h: Record<string, unknown>): number | null {
  const v = h.group_index;
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad('group_index', v, 'expected an integer >= 0 or null');
  return v;
}

function priorityProperty(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) throw bad('priority', v, 'expected an integer from 0 to 255');
  return v;
}

/**
 * Deepest nesting of a body we take: Python's json cannot write or read deeper (its recursion
 * limit is 1000), and deeper values overflow the stack later, in JSON.stringify (pool IPC) or
 * the result encoder, where the task could not even be failed cleanly.
 */
export const MAX_BODY_DEPTH = 1000;

/** Throws when `value` nests deeper than MAX_BODY_DEPTH (iteratively: it must not overflow itself). */
function checkDepth(value: unknown): void {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v) || v instanceof Date) continue;
    if (d > MAX_BODY_DEPTH) throw new ProtocolError(`body is nested deeper than ${MAX_BODY_DEPTH} levels`, { code: 'E_TOO_DEEP' });
    for (const x of Array.isArray(v) ? v : Object.values(v)) if (x !== null && typeof x === 'object') stack.push([x, d + 1]);
  }
}

/** Decode the body bytes (decompress, then deserialize) of any message. */
export function decodeBody(msg: TransportMessage, opts: ParseOptions = {}): unknown {
  const max = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (msg.body.length > max) throw new MessageTooLargeError(msg.body.length, max);
  // Refuse content that is not accepted before even decompressing it.
  if (opts.accept && !opts.accept.has(msg.contentType)) throw new ContentDisallowedError(msg.contentType, [...opts.accept]);
  let data = msg.body;
  const compression = msg.headers.compression;
  if (typeof compression === 'string' && compression) data = compressors.get(compression).decompress(data, max);
  const value = data === lastBody.bytes && msg.contentType === jsonSerializer.contentType && serializers.forContentType(msg.contentType) === jsonSerializer
    ? decodeJsonText((lastBody.text ??= data.toString('utf8')))
    : serializers.decode(data, msg.contentType, opts.accept, { headers: msg.headers });
  // Each level takes at least one byte: a smaller body cannot be too deep.
  if (data.length > MAX_BODY_DEPTH) checkDepth(value);
  return value;
}

/** Parse a transport message as a protocol-v2 task request; throws ProtocolError with a reason. */
export function parseTaskMessage(msg: TransportMessage, opts: ParseOptions = {}): TaskRequest {
  const h = msg.headers ?? {};
  const body = decodeBody(msg, opts);
  if (typeof h.task !== 'string' || typeof h.id !== 'string' || !h.task || !h.id) {
    if (body && typeof body === 'object' && !Array.isArray(body) && 'task' in (body as object)) {
      throw new ProtocolError('protocol v1 message (task in body): only Celery message protocol v2 is supported', {
        code: 'E_PROTOCOL_V1',
      });
    }
    throw new ProtocolError('not a protocol v2 task message: headers.task and headers.id are required');
  }
  if (!Array.isArray(body) || body.length < 2) {
    throw new ProtocolError('not a protocol v2 body: expected [args, kwargs, embed]');
  }
  const [args, kwargs, embed] = body as [unknown, unknown, unknown];
  if (!Array.isArray(args)) throw new ProtocolError('not a protocol v2 body: args is not an array');
  if (kwargs === null || typeof kwargs !== 'object' || Array.isArray(kwargs)) {
    throw new ProtocolError('not a protocol v2 body: kwargs is not an object');
  }
  const p = msg.properties ?? {};
  const rawProps = p as Record<string, unknown>;
  const [timeLimit, softTimeLimit] = timeLimits(h);
  if (h.ignore_result !== undefined && h.ignore_result !== null && typeof h.ignore_result !== 'boolean') throw bad('ignore_result', h.ignore_result, 'expected true or false');
  const argsrepr = optionalString(h, 'argsrepr');
  const kwargsrepr = optionalString(h, 'kwargsrepr');
  return {
    id: h.id,
    name: h.task,
    args,
    kwargs: kwargs as Record<string, unknown>,
    embed: parseEmbed(embed),
    retries: retriesHeader(h),
    eta: timeHeader(h, 'eta'),
    expires: timeHeader(h, 'expires'),
    timeLimit,
    softTimeLimit,
    rootId: optionalString(h, 'root_id'),
    parentId: optionalString(h, 'parent_id'),
    groupId: optionalString(h, 'group'),
    groupIndex: groupIndexHeader(h),
    replyTo: asStringOrNull(p.reply_to ?? rawProps.replyTo) || null,
    correlationId: asStringOrNull(p.correlation_id ?? rawProps.correlationId),
    ignoreResult: h.ignore_result === true,
    priority: priorityProperty(p.priority),
    origin: asStringOrNull(h.origin),
    argsrepr: argsrepr ?? pyreprArgs(args),
    kwargsrepr: kwargsrepr ?? pyrepr(kwargs),
    headers: h,
    properties: p,
    contentType: msg.contentType,
    contentEncoding: msg.contentEncoding,
  };
}

/**
 * kombu's JSON envelope, used on Redis and by Sprig's embedded and memory brokers:
 * {"body": base64, "content-encoding", "content-type", "headers", "properties"}.
 */
export function encodeEnvelope(msg: TransportMessage): string {
  return stringifyJson({
    body: msg.body.toString('base64'),
    'content-encoding': msg.contentEncoding,
    'content-type': msg.contentType,
    headers: msg.headers,
    properties: { ...msg.properties, body_encoding: 'base64' },
  });
}

/** Parse a kombu envelope; throws DecodeError with a reason on anything else. */
export function decodeEnvelope(raw: string | Buffer): TransportMessage {
  let env: unknown;
  try {
    env = parseJson(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (err) {
    throw new DecodeError(`message is not a JSON envelope: ${(err as Error).message}`, { cause: err });
  }
  return envelopeToMessage(env);
}

export function envelopeToMessage(env: unknown): TransportMessage {
  if (!env || typeof env !== 'object' || Array.isArray(env)) throw new DecodeError('message envelope is not an object');
  const e = env as Record<string, unknown>;
  if (typeof e.body !== 'string') throw new DecodeError('message envelope has no string body');
  const properties = (e.properties && typeof e.properties === 'object' ? e.properties : {}) as MessageProperties;
  const headers = (e.headers && typeof e.headers === 'object' ? e.headers : {}) as Record<string, unknown>;
  const contentType = typeof e['content-type'] === 'string' ? (e['content-type'] as string) : 'application/json';
  const contentEncoding = typeof e['content-encoding'] === 'string' ? (e['content-encoding'] as string) : 'utf-8';
  const enc = properties.body_encoding;
  const body = enc === 'base64' ? base64Body(e.body) : Buffer.from(e.body, 'utf8');
  return { headers, properties, contentType, contentEncoding, body };
}

/**
 * The last body decoded from base64, and its text once decoded as JSON. A queue often carries the
 * same body message after message (a task called with no arguments, or the same ones): those
 * messages share one buffer, and their JSON is read from one string, not base64 -> bytes -> text
 * each time (their values are still parsed per message: each task gets its own arguments). A
 * message's body bytes are never written to (buildTaskMessages shares one buffer the same way).
 */
const lastBody: { base64: string; bytes: Buffer; text?: string } = { base64: '', bytes: Buffer.alloc(0) };

function base64Body(base64: string): Buffer {
  if (base64 !== lastBody.base64) {
    lastBody.base64 = base64;
    lastBody.bytes = Buffer.from(base64, 'base64');
    lastBody.text = undefined;
  }
  return lastBody.bytes;
}

/** jsonSerializer.decode of bytes already read as text, with the registry's error for a body that does not parse. */
function decodeJsonText(text: string): unknown {
  try {
    return parseJson(text);
  } catch (err) {
    throw new DecodeError(`body does not decode as ${jsonSerializer.contentType}: ${(err as Error).message}`, { cause: err });
  }
}

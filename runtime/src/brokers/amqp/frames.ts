/**
 * A cheaper decoding of the three frames every delivery is made of (basic.deliver, its content
 * header, its body), put in front of amqplib's own on one connection. Decoding the content
 * header's field table (a Celery task message has 16 headers) was the largest single cost of a
 * no-op task on RabbitMQ: amqplib makes two closures per table, a Buffer view per string, and a
 * new string for every key and value, though the keys and most values (task name, `lang`,
 * `argsrepr`, the reply queue, the content type) are the same in every message. Here short ASCII
 * strings come from a small cache checked byte by byte, and nothing else is allocated but the
 * result, which is what amqplib returns, field for field (test/unit/amqp-frames.test.ts checks it
 * against amqplib's decoder).
 *
 * Only whole frames of those three kinds are decoded here; anything else (other methods, a frame
 * split over two socket reads) goes to amqplib's recvFrame as before. Every read is bounded by its
 * frame: a malformed frame throws, which amqplib turns into a connection error.
 */

const FRAME_HEADER_BYTES = 7;
const FRAME_END = 206;
const TYPE_METHOD = 1;
const TYPE_HEADER = 2;
const TYPE_BODY = 3;
const BASIC_DELIVER = 3932220;
const BASIC_CLASS = 60;

/** A malformed frame: amqplib closes the connection on any error thrown while decoding. */
export class FrameError extends Error {
  override name = 'FrameError';
}

function truncated(): never {
  throw new FrameError('malformed AMQP frame: a field runs past its end');
}

// ---- strings --------------------------------------------------------------------------------

const CACHE_SLOTS = 1024;
const CACHE_MAX_LEN = 24;
const cached: Array<string | undefined> = new Array<string | undefined>(CACHE_SLOTS).fill(undefined);
/** Node's own one-byte decoder without toString's argument checks (it has been on Buffer.prototype since Node 0.x). */
const latin1Slice: (this: Buffer, start: number, end: number) => string =
  (Buffer.prototype as unknown as { latin1Slice?: (this: Buffer, start: number, end: number) => string }).latin1Slice ??
  function (this: Buffer, start: number, end: number) {
    return this.toString('latin1', start, end);
  };

/**
 * The UTF-8 string in buf[start, end). A short ASCII one is looked up in a direct-mapped cache
 * (a hit is compared byte by byte, so a collision only costs a miss); anything else is decoded.
 */
export function str(buf: Buffer, start: number, end: number): string {
  if (end > buf.length) truncated();
  const len = end - start;
  if (len === 0) return '';
  if (len > CACHE_MAX_LEN) return buf.toString('utf8', start, end);
  let h = len;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b >= 0x80) return buf.toString('utf8', start, end);
    h = (Math.imul(h, 31) + b) | 0;
  }
  const slot = (h ^ (h >>> 15)) & (CACHE_SLOTS - 1);
  const s = cached[slot];
  if (s !== undefined && s.length === len) {
    let same = true;
    for (let i = 0; i < len; i++) {
      if (s.charCodeAt(i) !== buf[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return s;
  }
  const fresh = latin1Slice.call(buf, start, end);
  cached[slot] = fresh;
  return fresh;
}

// ---- field tables (amqplib's codec.decodeFields, same values) -------------------------------

/** A cursor over one frame's payload: every read checks the end first. */
class Reader {
  constructor(
    readonly buf: Buffer,
    public at: number,
    readonly end: number,
  ) {}

  need(n: number): number {
    const at = this.at;
    if (at + n > this.end) truncated();
    this.at = at + n;
    return at;
  }

  u8(): number {
    return this.buf[this.need(1)]!;
  }

  u32(): number {
    return this.buf.readUInt32BE(this.need(4));
  }

  shortstr(): string {
    const len = this.u8();
    const at = this.need(len);
    return str(this.buf, at, at + len);
  }
}

/**
 * Tables and arrays nested deeper than this are skipped, their bytes read past, and stand as
 * TOO_DEEP: a hostile header of 100k levels would otherwise overflow the stack, and the error
 * would close the connection and bring the same message back after every reconnect.
 */
export const MAX_TABLE_DEPTH = 32;
export const TOO_DEEP = `[AMQP field table nested deeper than ${MAX_TABLE_DEPTH} levels: dropped]`;

function table(r: Reader, end: number, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (end > r.end) truncated();
  while (r.at < end) {
    const key = r.shortstr();
    const v = value(r, depth);
    // defineProperty: a "__proto__" key stays a key and never becomes the table's prototype.
    if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  if (r.at !== end) truncated();
  return out;
}

function array(r: Reader, end: number, depth: number): unknown[] {
  const out: unknown[] = [];
  if (end > r.end) truncated();
  while (r.at < end) out.push(value(r, depth));
  if (r.at !== end) truncated();
  return out;
}

function value(r: Reader, depth: number): unknown {
  const b = r.buf;
  switch (r.u8()) {
    case 0x53 /* S */: {
      const len = r.u32();
      const at = r.need(len);
      return str(b, at, at + len);
    }
    case 0x74 /* t */:
      return b[r.need(1)] !== 0;
    case 0x56 /* V */:
      return null;
    case 0x46 /* F */: {
      const len = r.u32();
      if (depth >= MAX_TABLE_DEPTH) return skip(r, len);
      return table(r, r.at + len, depth + 1);
    }
    case 0x41 /* A */: {
      const len = r.u32();
      if (depth >= MAX_TABLE_DEPTH) return skip(r, len);
      return array(r, r.at + len, depth + 1);
    }
    case 0x62 /* b */:
      return b.readInt8(r.need(1));
    case 0x42 /* B */:
      return b[r.need(1)];
    case 0x49 /* I */:
      return b.readInt32BE(r.need(4));
    case 0x69 /* i */:
      return b.readUInt32BE(r.need(4));
    case 0x73 /* s */:
      return b.readInt16BE(r.need(2));
    case 0x75 /* u */:
      return b.readUInt16BE(r.need(2));
    case 0x6c /* l */:
      return Number(b.readBigInt64BE(r.need(8)));
    case 0x64 /* d */:
      return b.readDoubleBE(r.need(8));
    case 0x66 /* f */:
      return b.readFloatBE(r.need(4));
    case 0x44 /* D */: {
      const places = r.u8();
      return { '!': 'decimal', value: { places, digits: r.u32() } };
    }
    case 0x54 /* T */:
      return { '!': 'timestamp', value: Number(b.readBigUInt64BE(r.need(8))) };
    case 0x78 /* x */: {
      const len = r.u32();
      const at = r.need(len);
      return b.subarray(at, at + len);
    }
    default:
      throw new FrameError(`malformed AMQP frame: unknown field type ${b[r.at - 1]}`);
  }
}

function skip(r: Reader, len: number): string {
  r.need(len);
  return TOO_DEEP;
}

// ---- the three frames -----------------------------------------------------------------------

/** Basic properties in buf[start, end) (amqplib's decodeBasicProperties: every property present, undefined when not sent). */
export function decodeBasicProperties(buf: Buffer, start = 0, end = buf.length): Record<string, unknown> {
  return basicProperties(new Reader(buf, start, end));
}

function basicProperties(r: Reader): Record<string, unknown> {
  const flags = r.buf.readUInt16BE(r.need(2));
  if (flags === 0) return {};
  const p: Record<string, unknown> = {
    contentType: undefined,
    contentEncoding: undefined,
    headers: undefined,
    deliveryMode: undefined,
    priority: undefined,
    correlationId: undefined,
    replyTo: undefined,
    expiration: undefined,
    messageId: undefined,
    timestamp: undefined,
    type: undefined,
    userId: undefined,
    appId: undefined,
    clusterId: undefined,
  };
  if (flags & 0x8000) p.contentType = r.shortstr();
  if (flags & 0x4000) p.contentEncoding = r.shortstr();
  if (flags & 0x2000) {
    const len = r.u32();
    p.headers = table(r, r.at + len);
  }
  if (flags & 0x1000) p.deliveryMode = r.u8();
  if (flags & 0x0800) p.priority = r.u8();
  if (flags & 0x0400) p.correlationId = r.shortstr();
  if (flags & 0x0200) p.replyTo = r.shortstr();
  if (flags & 0x0100) p.expiration = r.shortstr();
  if (flags & 0x0080) p.messageId = r.shortstr();
  if (flags & 0x0040) p.timestamp = Number(r.buf.readBigUInt64BE(r.need(8)));
  if (flags & 0x0020) p.type = r.shortstr();
  if (flags & 0x0010) p.userId = r.shortstr();
  if (flags & 0x0008) p.appId = r.shortstr();
  if (flags & 0x0004) p.clusterId = r.shortstr();
  return p;
}

function basicDeliver(r: Reader): Record<string, unknown> {
  const consumerTag = r.shortstr();
  const deliveryTag = Number(r.buf.readBigUInt64BE(r.need(8)));
  const redelivered = (r.u8() & 1) === 1;
  const exchange = r.shortstr();
  const routingKey = r.shortstr();
  return { consumerTag, deliveryTag, redelivered, exchange, routingKey };
}

/** A decoded frame as amqplib's decodeFrame makes it. */
export type Frame = { id: number; channel: number; fields: Record<string, unknown>; size?: number } | { channel: number; content: Buffer };

/**
 * The frame at the front of `buf` when it is whole and of a kind decoded here: the frame and the
 * bytes after it. Undefined otherwise (amqplib decodes it).
 */
export function decodeFrontFrame(buf: Buffer, maxFrameSize: number): { frame: Frame; rest: Buffer } | undefined {
  if (buf.length < FRAME_HEADER_BYTES + 1) return undefined;
  const type = buf[0]!;
  if (type !== TYPE_METHOD && type !== TYPE_HEADER && type !== TYPE_BODY) return undefined;
  const size = buf.readUInt32BE(3);
  const total = FRAME_HEADER_BYTES + size + 1;
  // Too big, or bad frame end: amqplib's recvFrame raises its own error for those.
  if ((maxFrameSize > 0 && size > maxFrameSize) || buf.length < total || buf[total - 1] !== FRAME_END) return undefined;
  const channel = buf.readUInt16BE(1);
  const start = FRAME_HEADER_BYTES;
  const end = start + size;
  let frame: Frame;
  if (type === TYPE_BODY) {
    frame = { channel, content: buf.subarray(start, end) };
  } else if (type === TYPE_METHOD) {
    if (size < 4 || buf.readUInt32BE(start) !== BASIC_DELIVER) return undefined;
    frame = { id: BASIC_DELIVER, channel, fields: basicDeliver(new Reader(buf, start + 4, end)) };
  } else {
    if (size < 14 || buf.readUInt16BE(start) !== BASIC_CLASS) return undefined;
    const bodySize = Number(buf.readBigInt64BE(start + 4));
    frame = { id: BASIC_CLASS, channel, size: bodySize, fields: decodeBasicProperties(buf, start + 12, end) };
  }
  return { frame, rest: buf.subarray(total) };
}

/** What of amqplib's Connection this relies on (amqplib 0.10 - 2.x: connection.js, recvFrame). */
interface FrameSource {
  rest: Buffer;
  maxFrameSize: number;
  recvFrame(): unknown;
}

function isFrameSource(c: unknown): c is FrameSource {
  const x = c as Partial<FrameSource> | null;
  return !!x && typeof x.recvFrame === 'function' && Buffer.isBuffer(x.rest) && typeof x.maxFrameSize === 'number';
}

/**
 * Decode deliveries on this amqplib connection (`ChannelModel.connection`) with decodeFrontFrame;
 * false (and nothing changed) when it does not look like the amqplib connection this was written
 * for. Only this connection's own recvFrame is replaced: amqplib itself is left as it is.
 */
export function useFastFrames(connection: unknown): boolean {
  if (!isFrameSource(connection)) return false;
  const stock = connection.recvFrame;
  connection.recvFrame = function recvFrame(this: FrameSource) {
    const got = decodeFrontFrame(this.rest, this.maxFrameSize);
    if (!got) return stock.call(this);
    this.rest = got.rest;
    return got.frame;
  };
  return true;
}

import type { Packr, Unpackr } from 'msgpackr/index-no-eval';
import type { Serializer } from './registry.js';

// Loaded at first use (most workers never see msgpack). Plain maps and arrays only (no msgpackr
// records/structures), as kombu's msgpack.packb(use_bin_type=True) / unpackb(raw=False) write and
// read them. int64AsType 'auto' (number when exact, else BigInt) exists in msgpackr 2.x but not in
// its types.
let codec: { packr: Packr; unpackr: Unpackr } | undefined;
function msgpackr(): { packr: Packr; unpackr: Unpackr } {
  if (codec) return codec;
  const lib = require('msgpackr/index-no-eval') as typeof import('msgpackr/index-no-eval');
  return (codec = {
    packr: new lib.Packr({ useRecords: false, moreTypes: false }),
    unpackr: new lib.Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'number' }),
  });
}

/**
 * msgpackr writes integers outside 32 bits as float64, which Python would read as floats; send
 * them as int64 (via BigInt). Dates go as ISO strings, like the JSON serializer.
 */
function prepare(v: unknown): unknown {
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && (v > 0xffffffff || v < -0x80000000) ? BigInt(v) : v;
  }
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(prepare);
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return v;
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return prepare((v as { toJSON: () => unknown }).toJSON());
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined || typeof x === 'function') continue;
    Object.defineProperty(out, k, { value: prepare(x), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Celery's 'msgpack': content type application/x-msgpack, binary. */
export const msgpackSerializer: Serializer = {
  name: 'msgpack',
  contentType: 'application/x-msgpack',
  contentEncoding: 'binary',
  encode: (value) => Buffer.from(msgpackr().packr.pack(prepare(value))),
  // msgpackr renames a "__proto__" map key to "__proto_", so a message cannot set a prototype.
  decode: (data) => msgpackr().unpackr.unpack(data),
};

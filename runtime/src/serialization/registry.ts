import { ContentDisallowedError, DecodeError, ProtocolError } from '../errors.js';
import { Registry } from '../util/registry.js';
import { msgpackSerializer } from './msgpack.js';
import { yamlSerializer } from './yaml.js';
import { createSignedSerializer } from './signed.js';
import { parseJson, stringifyJson } from './json.js';

/** What a serializer may see besides the bytes: the message headers (signed messages cover them). */
export interface SerializerContext {
  headers?: Readonly<Record<string, unknown>>;
}

/** A serializer turns a message body into bytes and back (kombu's serialization registry). */
export interface Serializer {
  /** Short name used in settings and `accept` lists, e.g. "json". */
  readonly name: string;
  /** MIME type on the wire, e.g. "application/json" (Celery's names, so Python can read it). */
  readonly contentType: string;
  /** The content-encoding kombu writes for this type ("utf-8" for text, "binary" otherwise). */
  readonly contentEncoding: string;
  encode(value: unknown, ctx?: SerializerContext): Buffer;
  decode(data: Buffer, ctx?: SerializerContext): unknown;
}

export class SerializerRegistry extends Registry<Serializer> {
  constructor() {
    super((name, known) => new DecodeError(`unknown serializer ${JSON.stringify(name)} (known: ${known.join(', ')})`));
  }

  /** Resolve an accept list of names or content types to content types. */
  resolveAccept(accept: readonly string[]): Set<string> {
    const out = new Set<string>();
    for (const a of accept) out.add(this.find(a)?.contentType ?? a);
    return out;
  }

  /**
   * Decode `data` of `contentType`. Content not in `accept` (content types) is refused before any
   * decoding happens.
   */
  decode(data: Buffer, contentType: string, accept?: ReadonlySet<string>, ctx?: SerializerContext): unknown {
    if (accept && !accept.has(contentType)) throw new ContentDisallowedError(contentType, [...accept]);
    const s = this.forContentType(contentType);
    if (!s) throw new DecodeError(`no serializer for content type ${JSON.stringify(contentType)}`);
    try {
      return s.decode(data, ctx);
    } catch (err) {
      // A serializer's own protocol errors (a bad signature, say) keep their class and code.
      if (err instanceof ProtocolError) throw err;
      throw new DecodeError(`body does not decode as ${contentType}: ${(err as Error).message}`, { cause: err });
    }
  }
}

export const jsonSerializer: Serializer = {
  name: 'json',
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  // Python's integers stay exact both ways (json.ts).
  encode: (value) => Buffer.from(stringifyJson(value), 'utf8'),
  decode: (data) => parseJson(data.toString('utf8')),
};

export const serializers = new SerializerRegistry();
serializers.register(jsonSerializer);
serializers.register(msgpackSerializer);
serializers.register(yamlSerializer);
serializers.register(createSignedSerializer(serializers));

/** Register a custom serializer on the process-wide registry. */
export function registerSerializer(name: string, s: Omit<Serializer, 'name' | 'contentEncoding'> & { contentEncoding?: string }): void {
  if (!name || typeof s.encode !== 'function' || typeof s.decode !== 'function' || !s.contentType) {
    throw new TypeError('registerSerializer(name, { contentType, encode, decode }): all four are required');
  }
  serializers.register({ ...s, name, contentEncoding: s.contentEncoding ?? 'binary' });
}

import * as zlib from 'node:zlib';
import { DecodeError, MessageTooLargeError } from '../errors.js';

/** A compressor; `name` is what Celery writes in the `compression` header. */
export interface Compressor {
  readonly name: string;
  /** MIME-ish content type kombu uses, e.g. "application/x-gzip". */
  readonly contentType: string;
  compress(data: Buffer): Buffer;
  /** Must never produce more than `maxOutput` bytes (decompression bombs are refused). */
  decompress(data: Buffer, maxOutput: number): Buffer;
}

export class CompressionRegistry {
  private readonly byName = new Map<string, Compressor>();
  private readonly byType = new Map<string, Compressor>();

  register(c: Compressor, aliases: string[] = []): void {
    this.byName.set(c.name, c);
    for (const a of aliases) this.byName.set(a, c);
    this.byType.set(c.contentType, c);
  }

  get(nameOrType: string): Compressor {
    const c = this.byName.get(nameOrType) ?? this.byType.get(nameOrType);
    if (!c) throw new DecodeError(`unknown compression ${JSON.stringify(nameOrType)} (known: ${this.names().join(', ')})`);
    return c;
  }

  has(nameOrType: string): boolean {
    return this.byName.has(nameOrType) || this.byType.has(nameOrType);
  }

  names(): string[] {
    return [...new Set([...this.byName.values()].map((c) => c.name))];
  }
}

function bounded(fn: (data: Buffer, opts: zlib.ZlibOptions) => Buffer) {
  return (data: Buffer, maxOutput: number): Buffer => {
    try {
      return fn(data, { maxOutputLength: maxOutput });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new MessageTooLargeError(maxOutput + 1, maxOutput);
      throw new DecodeError(`decompression failed: ${(err as Error).message}`, { cause: err });
    }
  };
}

export const compressors = new CompressionRegistry();
compressors.register({
  name: 'zlib',
  contentType: 'application/x-zlib',
  compress: (d) => zlib.deflateSync(d),
  decompress: bounded(zlib.inflateSync),
});
compressors.register(
  {
    name: 'gzip',
    contentType: 'application/x-gzip',
    compress: (d) => zlib.gzipSync(d),
    decompress: bounded(zlib.gunzipSync),
  },
  ['gz'],
);

export function registerCompressor(c: Compressor, aliases: string[] = []): void {
  compressors.register(c, aliases);
}

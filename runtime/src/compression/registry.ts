import { DecodeError } from '../errors.js';
import { Registry } from '../util/registry.js';
import { bzip2Compressor } from './bzip2.js';
import { brotliCompressor, gzipCompressor, legacyZlibCompressor, zstdCompressor } from './zlib-family.js';

/** A compressor; `contentType` is what goes in Celery's `compression` header (kombu's names). */
export interface Compressor {
  readonly name: string;
  /** MIME-ish content type kombu uses, e.g. "application/x-gzip". */
  readonly contentType: string;
  compress(data: Buffer): Buffer;
  /** Must never produce more than `maxOutput` bytes (decompression bombs are refused). */
  decompress(data: Buffer, maxOutput: number): Buffer;
}

export class CompressionRegistry extends Registry<Compressor> {
  constructor() {
    super((name, known) => new DecodeError(`unknown compression ${JSON.stringify(name)} (known: ${known.join(', ')})`));
  }
}

export const compressors = new CompressionRegistry();
// Aliases as in kombu/compression.py, so `compression: 'zlib'` means what it means in Celery.
compressors.register(gzipCompressor, ['zlib']);
compressors.register(legacyZlibCompressor);
compressors.register(bzip2Compressor, ['bzip', 'bz2']);
compressors.register(brotliCompressor);
const zstd = zstdCompressor();
if (zstd) compressors.register(zstd, ['zstandard']);

export function registerCompressor(c: Compressor, aliases: string[] = []): void {
  compressors.register(c, aliases);
}

import * as zlib from 'node:zlib';
import { DecodeError, MessageTooLargeError } from '../errors.js';
import type { Compressor } from './registry.js';

type SyncCodec = (data: Buffer, opts: zlib.ZlibOptions) => Buffer;

/** node:zlib stops at `maxOutputLength` with ERR_BUFFER_TOO_LARGE instead of expanding a bomb. */
export function bounded(fn: SyncCodec) {
  return (data: Buffer, maxOutput: number): Buffer => {
    try {
      return fn(data, { maxOutputLength: Math.max(1, maxOutput) });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        throw new MessageTooLargeError(maxOutput + 1, maxOutput);
      }
      throw new DecodeError(`decompression failed: ${(err as Error).message}`, { cause: err });
    }
  };
}

const inflate = bounded(zlib.inflateSync);
const gunzip = bounded(zlib.gunzipSync);

/**
 * kombu registers zlib.compress under 'application/x-gzip' with aliases gzip and zlib: the bytes
 * are zlib-format (RFC 1950), not gzip (RFC 1952). We write that, so Python can read it, and
 * read both (a 1f 8b magic means real gzip, e.g. from an older Sprig).
 */
export const gzipCompressor: Compressor = {
  name: 'gzip',
  contentType: 'application/x-gzip',
  compress: (d) => zlib.deflateSync(d),
  decompress: (d, max) => (d.length >= 2 && d[0] === 0x1f && d[1] === 0x8b ? gunzip(d, max) : inflate(d, max)),
};

/** Sprig's earlier name for zlib; still read, never written by the `zlib` alias any more. */
export const legacyZlibCompressor: Compressor = {
  name: 'x-zlib',
  contentType: 'application/x-zlib',
  compress: (d) => zlib.deflateSync(d),
  decompress: inflate,
};

/** kombu: register(brotli.compress, brotli.decompress, 'application/x-brotli', aliases=['brotli']). */
export const brotliCompressor: Compressor = {
  name: 'brotli',
  contentType: 'application/x-brotli',
  compress: (d) =>
    zlib.brotliCompressSync(d, {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: d.length },
    }),
  decompress: bounded(zlib.brotliDecompressSync as SyncCodec),
};

/**
 * zstd is in node:zlib from Node 22.15 / 23.8 only; detected at run time (kombu: 'application/zstd',
 * aliases zstd, zstandard).
 */
export function zstdCompressor(): Compressor | undefined {
  const z = zlib as unknown as { zstdCompressSync?: (d: Buffer) => Buffer; zstdDecompressSync?: SyncCodec };
  if (typeof z.zstdCompressSync !== 'function' || typeof z.zstdDecompressSync !== 'function') return undefined;
  const compress = z.zstdCompressSync.bind(zlib);
  return {
    name: 'zstd',
    contentType: 'application/zstd',
    compress: (d) => compress(d),
    decompress: bounded(z.zstdDecompressSync.bind(zlib)),
  };
}

import { DecodeError, MessageTooLargeError } from '../errors.js';
import type { Compressor } from './registry.js';
import { bzip2Compress } from './bzip2-encode.js';
import { bzip2Decompress, Bzip2LimitError } from './bzip2-decode.js';

/** kombu: register(bz2.compress, bz2.decompress, 'application/x-bz2', aliases=['bzip2', 'bzip']). */
export const bzip2Compressor: Compressor = {
  name: 'bzip2',
  contentType: 'application/x-bz2',
  compress: (d) => bzip2Compress(d, 9),
  decompress(data, maxOutput) {
    try {
      return bzip2Decompress(data, maxOutput);
    } catch (err) {
      if (err instanceof Bzip2LimitError) throw new MessageTooLargeError(maxOutput + 1, maxOutput);
      throw new DecodeError(`decompression failed: ${(err as Error).message}`, { cause: err });
    }
  },
};

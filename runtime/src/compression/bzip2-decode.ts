/**
 * A bounded bzip2 decompressor. Every table index and count read from the stream is checked,
 * the per-block buffer is capped by the declared block size, and output is counted byte by byte
 * against `maxOutput`, so a bomb is refused after at most `maxOutput` bytes, never expanded.
 * Concatenated streams (what `bz2.decompress` accepts) are decoded in turn.
 */
import { crcUpdate, combineCrc, BLOCK_MAGIC_HI, BLOCK_MAGIC_LO, END_MAGIC_HI, END_MAGIC_LO, GROUP_SIZE, MAX_GROUPS } from './bzip2-crc.js';

export class Bzip2FormatError extends Error {}
export class Bzip2LimitError extends Error {}

class BitReader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get bytePos(): number {
    return (this.pos + 7) >>> 3;
  }

  bit(): number {
    const byte = this.pos >>> 3;
    if (byte >= this.buf.length) throw new Bzip2FormatError('unexpected end of bzip2 data');
    const b = (this.buf[byte]! >>> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return b;
  }

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = (v * 2) + this.bit();
    return v;
  }

  alignToByte(): void {
    this.pos = (this.pos + 7) & ~7;
  }
}

interface Table {
  minLen: number;
  maxLen: number;
  /** limit[l]: largest code of length l (or -1); base[l]: index into perm of the first code of length l. */
  limit: Int32Array;
  base: Int32Array;
  perm: Int32Array;
}

function buildTable(len: Uint8Array, alphaSize: number): Table {
  let minLen = 32;
  let maxLen = 0;
  for (let i = 0; i < alphaSize; i++) {
    minLen = Math.min(minLen, len[i]!);
    maxLen = Math.max(maxLen, len[i]!);
  }
  const perm = new Int32Array(alphaSize);
  let pp = 0;
  for (let l = minLen; l <= maxLen; l++) for (let s = 0; s < alphaSize; s++) if (len[s] === l) perm[pp++] = s;
  const limit = new Int32Array(22).fill(-1);
  const base = new Int32Array(22);
  let code = 0;
  let idx = 0;
  for (let l = minLen; l <= maxLen; l++) {
    let count = 0;
    for (let s = 0; s < alphaSize; s++) if (len[s] === l) count++;
    base[l] = idx - code;
    code += count;
    idx += count;
    limit[l] = code - 1;
    code <<= 1;
  }
  return { minLen, maxLen, limit, base, perm };
}

function readSymbol(r: BitReader, t: Table): number {
  let code = r.bits(t.minLen);
  for (let l = t.minLen; l <= t.maxLen; l++) {
    if (code <= t.limit[l]!) {
      const i = code + t.base[l]!;
      if (i < 0 || i >= t.perm.length) break;
      return t.perm[i]!;
    }
    code = (code << 1) | r.bit();
  }
  throw new Bzip2FormatError('bad Huffman code');
}

/** Decompress a bzip2 stream (or several, concatenated), producing at most `maxOutput` bytes. */
export function bzip2Decompress(input: Uint8Array, maxOutput: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  let out = Buffer.allocUnsafe(Math.min(maxOutput, 64 * 1024) || 1);
  let o = 0;
  const emit = (b: number) => {
    if (o === out.length) {
      chunks.push(out);
      out = Buffer.allocUnsafe(Math.min(out.length * 2, 4 * 1024 * 1024));
      o = 0;
    }
    if (++total > maxOutput) throw new Bzip2LimitError(`bzip2 output exceeds ${maxOutput} bytes`);
    out[o++] = b;
  };

  const r = new BitReader(input);
  let streams = 0;
  while (streams === 0 || r.bytePos < input.length) {
    if (r.bits(8) !== 0x42 || r.bits(8) !== 0x5a || r.bits(8) !== 0x68) {
      if (streams === 0) throw new Bzip2FormatError('not bzip2 data (no BZh header)');
      break; // trailing garbage after a complete stream: what bz2.decompress tolerates too
    }
    const level = r.bits(8) - 0x30;
    if (level < 1 || level > 9) throw new Bzip2FormatError(`bad bzip2 block size ${level}`);
    const maxBlock = level * 100_000;
    decodeStream(r, maxBlock, emit);
    r.alignToByte();
    streams++;
  }
  chunks.push(out.subarray(0, o));
  return Buffer.concat(chunks, total);
}

function decodeStream(r: BitReader, maxBlock: number, emit: (b: number) => void): void {
  let combined = 0;
  const tt = new Int32Array(maxBlock);
  const ll = new Uint8Array(maxBlock);
  for (;;) {
    const hi = r.bits(24);
    const lo = r.bits(24);
    if (hi === END_MAGIC_HI && lo === END_MAGIC_LO) {
      const stored = r.bits(32) >>> 0;
      if (stored !== combined) throw new Bzip2FormatError('bzip2 stream CRC mismatch');
      return;
    }
    if (hi !== BLOCK_MAGIC_HI || lo !== BLOCK_MAGIC_LO) throw new Bzip2FormatError('bad bzip2 block magic');
    const storedCrc = r.bits(32) >>> 0;
    if (r.bit()) throw new Bzip2FormatError('randomised bzip2 blocks are not supported');
    const origPtr = r.bits(24);

    const seqToUnseq: number[] = [];
    // (at most 256 entries: 16 groups x 16 bits)
    const used16 = r.bits(16);
    for (let i = 0; i < 16; i++) {
      if (!(used16 & (1 << (15 - i)))) continue;
      const bits = r.bits(16);
      for (let j = 0; j < 16; j++) if (bits & (1 << (15 - j))) seqToUnseq.push(i * 16 + j);
    }
    if (seqToUnseq.length === 0) throw new Bzip2FormatError('bzip2 block uses no symbols');
    const alphaSize = seqToUnseq.length + 2;
    const nGroups = r.bits(3);
    if (nGroups < 2 || nGroups > MAX_GROUPS) throw new Bzip2FormatError(`bad bzip2 table count ${nGroups}`);
    const nSelectors = r.bits(15);
    if (nSelectors < 1) throw new Bzip2FormatError('bzip2 block has no selectors');
    const selMtf = Array.from({ length: nGroups }, (_, i) => i);
    const selectors = new Uint8Array(nSelectors);
    for (let i = 0; i < nSelectors; i++) {
      let j = 0;
      while (r.bit()) if (++j >= nGroups) throw new Bzip2FormatError('bad bzip2 selector');
      const v = selMtf[j]!;
      selMtf.copyWithin(1, 0, j);
      selMtf[0] = v;
      selectors[i] = v;
    }
    const tables: Table[] = [];
    for (let g = 0; g < nGroups; g++) {
      const len = new Uint8Array(alphaSize);
      let cur = r.bits(5);
      for (let s = 0; s < alphaSize; s++) {
        for (;;) {
          if (cur < 1 || cur > 20) throw new Bzip2FormatError('bad bzip2 code length');
          if (!r.bit()) break;
          cur += r.bit() ? -1 : 1;
        }
        len[s] = cur;
      }
      tables.push(buildTable(len, alphaSize));
    }

    // Huffman -> RUNA/RUNB + MTF -> the BWT's last column in ll.
    const eob = alphaSize - 1;
    const mtf = new Uint8Array(seqToUnseq.length);
    for (let i = 0; i < mtf.length; i++) mtf[i] = i;
    const counts = new Int32Array(256);
    let n = 0;
    let groupLeft = 0;
    let sel = 0;
    let table = tables[0]!;
    let run = 0;
    let runWeight = 0;
    for (;;) {
      if (groupLeft === 0) {
        if (sel >= nSelectors) throw new Bzip2FormatError('bzip2 selectors exhausted');
        table = tables[selectors[sel++]!]!;
        groupLeft = GROUP_SIZE;
      }
      groupLeft--;
      const sym = readSymbol(r, table);
      if (sym <= 1) {
        if (runWeight === 0) runWeight = 1;
        run += runWeight << sym;
        runWeight <<= 1;
        if (run > maxBlock) throw new Bzip2FormatError('bzip2 run exceeds the block size');
        continue;
      }
      if (run > 0) {
        if (n + run > maxBlock) throw new Bzip2FormatError('bzip2 block overflows its size');
        const b = seqToUnseq[mtf[0]!]!;
        counts[b]! += run;
        ll.fill(b, n, n + run);
        n += run;
        run = 0;
        runWeight = 0;
      }
      if (sym === eob) break;
      if (n >= maxBlock) throw new Bzip2FormatError('bzip2 block overflows its size');
      const j = sym - 1;
      const v = mtf[j]!;
      for (let k = j; k > 0; k--) mtf[k] = mtf[k - 1]!;
      mtf[0] = v;
      const b = seqToUnseq[v]!;
      counts[b]!++;
      ll[n++] = b;
    }
    if (origPtr >= n) throw new Bzip2FormatError('bad bzip2 origPtr');

    // Inverse BWT, then undo RLE1 while emitting (output is bounded in emit).
    const cf = new Int32Array(257);
    for (let i = 0; i < 256; i++) cf[i + 1] = cf[i]! + counts[i]!;
    for (let i = 0; i < n; i++) tt[cf[ll[i]!]!++] = i;
    let pos = tt[origPtr]!;
    let crc = 0xffffffff;
    let last = -1;
    let same = 0;
    for (let k = 0; k < n; k++) {
      const b = ll[pos]!;
      pos = tt[pos]!;
      if (same === 4) {
        for (let x = 0; x < b; x++) {
          emit(last);
          crc = crcUpdate(crc, last);
        }
        same = 0;
        last = -1;
        continue;
      }
      emit(b);
      crc = crcUpdate(crc, b);
      if (b === last) same++;
      else {
        last = b;
        same = 1;
      }
    }
    crc = ~crc >>> 0;
    if (crc !== storedCrc) throw new Bzip2FormatError('bzip2 block CRC mismatch');
    combined = combineCrc(combined, crc);
  }
}

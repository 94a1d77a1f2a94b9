/**
 * A bzip2 compressor (the format of libbzip2 / Python's `bz2` / kombu's 'application/x-bz2').
 * No npm library both compresses and has a usable licence (see docs/compression.md), so this is
 * a small one: RLE1 -> BWT (cyclic prefix doubling, O(n log n), safe on periodic input) ->
 * MTF/RUNA-RUNB -> Huffman tables refined over the block like libbzip2 does.
 */
import { blockCrc, combineCrc, BLOCK_MAGIC_HI, BLOCK_MAGIC_LO, END_MAGIC_HI, END_MAGIC_LO, GROUP_SIZE } from './bzip2-crc.js';

class BitWriter {
  private buf: Uint8Array = new Uint8Array(1024);
  private len = 0;
  private acc = 0;
  private n = 0;

  write(bits: number, value: number): void {
    for (let i = bits - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((value >>> i) & 1);
      if (++this.n === 8) this.push();
    }
  }

  write32(v: number): void {
    this.write(16, (v >>> 16) & 0xffff);
    this.write(16, v & 0xffff);
  }

  private push(): void {
    if (this.len === this.buf.length) {
      const b = new Uint8Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.len++] = this.acc & 0xff;
    this.acc = 0;
    this.n = 0;
  }

  finish(): Buffer {
    if (this.n > 0) {
      this.acc <<= 8 - this.n;
      this.push();
    }
    return Buffer.from(this.buf.buffer, 0, this.len);
  }
}

/** RLE1: runs of 4..255 equal bytes become 4 bytes + a count. Returns the bytes consumed. */
function rle1(src: Uint8Array, start: number, out: Uint8Array, maxOut: number): { consumed: number; length: number } {
  let i = start;
  let o = 0;
  while (i < src.length && o + 5 <= maxOut) {
    const b = src[i]!;
    let run = 1;
    while (run < 255 && i + run < src.length && src[i + run] === b) run++;
    if (run < 4) {
      for (let k = 0; k < run; k++) out[o++] = b;
    } else {
      out[o++] = b;
      out[o++] = b;
      out[o++] = b;
      out[o++] = b;
      out[o++] = run - 4;
    }
    i += run;
  }
  return { consumed: i - start, length: o };
}

/** Sort the cyclic rotations of `s` (cp-algorithms' prefix doubling with counting sort). */
function sortRotations(s: Uint8Array, n: number): Int32Array {
  const p = new Int32Array(n);
  let c = new Int32Array(n);
  const cnt = new Int32Array(Math.max(256, n));
  for (let i = 0; i < n; i++) cnt[s[i]!]!++;
  for (let i = 1; i < 256; i++) cnt[i]! += cnt[i - 1]!;
  for (let i = n - 1; i >= 0; i--) p[--cnt[s[i]!]!] = i;
  let classes = 1;
  c[p[0]!] = 0;
  for (let i = 1; i < n; i++) {
    if (s[p[i]!] !== s[p[i - 1]!]) classes++;
    c[p[i]!] = classes - 1;
  }
  const pn = new Int32Array(n);
  let cn = new Int32Array(n);
  for (let h = 1; h < n && classes < n; h <<= 1) {
    for (let i = 0; i < n; i++) {
      let v = p[i]! - h;
      if (v < 0) v += n;
      pn[i] = v;
    }
    cnt.fill(0, 0, classes);
    for (let i = 0; i < n; i++) cnt[c[pn[i]!]!]!++;
    for (let i = 1; i < classes; i++) cnt[i]! += cnt[i - 1]!;
    for (let i = n - 1; i >= 0; i--) p[--cnt[c[pn[i]!]!]!] = pn[i]!;
    cn[p[0]!] = 0;
    classes = 1;
    for (let i = 1; i < n; i++) {
      const a = p[i]!;
      const b = p[i - 1]!;
      if (c[a] !== c[b] || c[(a + h) % n] !== c[(b + h) % n]) classes++;
      cn[a] = classes - 1;
    }
    const t = c;
    c = cn;
    cn = t;
  }
  return p;
}

/** Huffman code lengths limited to `maxLen` (libbzip2: scale the weights down and retry). */
function codeLengths(freq: readonly number[], maxLen: number): number[] {
  const n = freq.length;
  let w = freq.map((f) => Math.max(1, f));
  for (;;) {
    // Simple O(n^2) merge: alphabets are at most 258 symbols.
    const nodes: Array<{ w: number; syms: number[] }> = w.map((x, i) => ({ w: x, syms: [i] }));
    const len = new Array<number>(n).fill(0);
    while (nodes.length > 1) {
      nodes.sort((a, b) => a.w - b.w);
      const a = nodes.shift()!;
      const b = nodes.shift()!;
      for (const s of a.syms) len[s]!++;
      for (const s of b.syms) len[s]!++;
      nodes.push({ w: a.w + b.w, syms: a.syms.concat(b.syms) });
    }
    if (Math.max(...len) <= maxLen) return len;
    w = w.map((x) => 1 + (x >> 1));
  }
}

function canonicalCodes(len: readonly number[]): number[] {
  const codes = new Array<number>(len.length).fill(0);
  const min = Math.min(...len);
  const max = Math.max(...len);
  let code = 0;
  for (let l = min; l <= max; l++) {
    for (let s = 0; s < len.length; s++) if (len[s] === l) codes[s] = code++;
    code <<= 1;
  }
  return codes;
}

function writeBlock(w: BitWriter, block: Uint8Array, n: number, crc: number): void {
  const p = sortRotations(block, n);
  const last = new Uint8Array(n);
  let origPtr = 0;
  for (let i = 0; i < n; i++) {
    const r = p[i]!;
    if (r === 0) origPtr = i;
    last[i] = block[r === 0 ? n - 1 : r - 1]!;
  }
  // Symbol map and MTF + zero-run coding.
  const inUse = new Array<boolean>(256).fill(false);
  for (let i = 0; i < n; i++) inUse[last[i]!] = true;
  const unseqToSeq = new Int32Array(256);
  let nInUse = 0;
  for (let i = 0; i < 256; i++) if (inUse[i]) unseqToSeq[i] = nInUse++;
  const eob = nInUse + 1;
  const alphaSize = nInUse + 2;
  const mtf = new Uint8Array(nInUse);
  for (let i = 0; i < nInUse; i++) mtf[i] = i;
  const syms: number[] = [];
  let zPend = 0;
  const flushZeros = () => {
    if (zPend === 0) return;
    zPend--;
    for (;;) {
      syms.push(zPend & 1 ? 1 : 0);
      if (zPend < 2) break;
      zPend = (zPend - 2) >> 1;
    }
    zPend = 0;
  };
  for (let i = 0; i < n; i++) {
    const v = unseqToSeq[last[i]!]!;
    if (mtf[0] === v) {
      zPend++;
      continue;
    }
    flushZeros();
    let j = 1;
    while (mtf[j] !== v) j++;
    for (let k = j; k > 0; k--) mtf[k] = mtf[k - 1]!;
    mtf[0] = v;
    syms.push(j + 1);
  }
  flushZeros();
  syms.push(eob);

  // Tables: libbzip2's initial split of the alphabet by frequency, then a few refinement passes.
  const nSel = Math.ceil(syms.length / GROUP_SIZE);
  const nGroups = syms.length < 200 ? 2 : syms.length < 600 ? 3 : syms.length < 1200 ? 4 : syms.length < 2400 ? 5 : 6;
  const freq = new Array<number>(alphaSize).fill(0);
  for (const s of syms) freq[s]!++;
  let lens: number[][] = [];
  {
    let remaining = syms.length;
    let gs = 0;
    for (let g = nGroups; g > 0; g--) {
      const target = remaining / g;
      let ge = gs - 1;
      let acc = 0;
      while (acc < target && ge < alphaSize - 1) acc += freq[++ge]!;
      if (ge > gs && g !== nGroups && g !== 1 && (nGroups - g) % 2 === 1) acc -= freq[ge--]!;
      lens.push(Array.from({ length: alphaSize }, (_, s) => (s >= gs && s <= ge ? 0 : 15)));
      gs = ge + 1;
      remaining -= acc;
    }
  }
  const selectors = new Uint8Array(nSel);
  for (let iter = 0; iter < 4; iter++) {
    const gFreq = Array.from({ length: nGroups }, () => new Array<number>(alphaSize).fill(0));
    for (let sel = 0; sel < nSel; sel++) {
      const start = sel * GROUP_SIZE;
      const end = Math.min(syms.length, start + GROUP_SIZE);
      let best = 0;
      let bestCost = Infinity;
      for (let g = 0; g < nGroups; g++) {
        let cost = 0;
        for (let k = start; k < end; k++) cost += lens[g]![syms[k]!]!;
        if (cost < bestCost) {
          bestCost = cost;
          best = g;
        }
      }
      selectors[sel] = best;
      for (let k = start; k < end; k++) gFreq[best]![syms[k]!]!++;
    }
    lens = gFreq.map((f) => codeLengths(f, 17));
  }
  const codes = lens.map(canonicalCodes);

  w.write(24, BLOCK_MAGIC_HI);
  w.write(24, BLOCK_MAGIC_LO);
  w.write32(crc);
  w.write(1, 0); // not randomised
  w.write(24, origPtr);
  let used16 = 0;
  for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) if (inUse[i * 16 + j]) used16 |= 1 << (15 - i);
  w.write(16, used16);
  for (let i = 0; i < 16; i++) {
    if (!(used16 & (1 << (15 - i)))) continue;
    let bits = 0;
    for (let j = 0; j < 16; j++) if (inUse[i * 16 + j]) bits |= 1 << (15 - j);
    w.write(16, bits);
  }
  w.write(3, nGroups);
  w.write(15, nSel);
  const selMtf = Array.from({ length: nGroups }, (_, i) => i);
  for (let i = 0; i < nSel; i++) {
    const v = selectors[i]!;
    let j = 0;
    while (selMtf[j] !== v) j++;
    selMtf.copyWithin(1, 0, j);
    selMtf[0] = v;
    for (let k = 0; k < j; k++) w.write(1, 1);
    w.write(1, 0);
  }
  for (let g = 0; g < nGroups; g++) {
    let cur = lens[g]![0]!;
    w.write(5, cur);
    for (let s = 0; s < alphaSize; s++) {
      const target = lens[g]![s]!;
      while (cur < target) {
        w.write(2, 2);
        cur++;
      }
      while (cur > target) {
        w.write(2, 3);
        cur--;
      }
      w.write(1, 0);
    }
  }
  for (let k = 0; k < syms.length; k++) {
    const g = selectors[Math.floor(k / GROUP_SIZE)]!;
    w.write(lens[g]![syms[k]!]!, codes[g]![syms[k]!]!);
  }
}

/** Compress `data` to a complete bzip2 stream. `level` 1-9 is the block size in 100k units. */
export function bzip2Compress(data: Uint8Array, level = 9): Buffer {
  const w = new BitWriter();
  w.write(8, 0x42);
  w.write(8, 0x5a);
  w.write(8, 0x68);
  w.write(8, 0x30 + level);
  const maxBlock = level * 100_000 - 19;
  const block = new Uint8Array(maxBlock);
  let combined = 0;
  let pos = 0;
  while (pos < data.length) {
    const { consumed, length } = rle1(data, pos, block, maxBlock);
    const crc = blockCrc(data, pos, pos + consumed);
    combined = combineCrc(combined, crc);
    writeBlock(w, block, length, crc);
    pos += consumed;
  }
  w.write(24, END_MAGIC_HI);
  w.write(24, END_MAGIC_LO);
  w.write32(combined);
  return w.finish();
}

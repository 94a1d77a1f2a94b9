/** bzip2's CRC-32: the MSB-first (non-reflected) polynomial 0x04c11db7, unlike zlib's. */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crcUpdate(crc: number, byte: number): number {
  return ((crc << 8) ^ TABLE[((crc >>> 24) ^ byte) & 0xff]!) >>> 0;
}

export function blockCrc(data: Uint8Array, start: number, end: number): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = ((crc << 8) ^ TABLE[((crc >>> 24) ^ data[i]!) & 0xff]!) >>> 0;
  return ~crc >>> 0;
}

export function combineCrc(combined: number, block: number): number {
  return (((combined << 1) | (combined >>> 31)) ^ block) >>> 0;
}

export const BLOCK_MAGIC_HI = 0x314159;
export const BLOCK_MAGIC_LO = 0x265359;
export const END_MAGIC_HI = 0x177245;
export const END_MAGIC_LO = 0x385090;
export const MAX_GROUPS = 6;
export const GROUP_SIZE = 50;

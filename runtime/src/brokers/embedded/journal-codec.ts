/**
 * The journal's records and their bytes (journal.ts owns the file, the fsync policy and compaction).
 *
 * Every record is framed `[u32 length][u32 crc32 of the payload][payload]` (big-endian). The payload
 * is one of:
 * - a binary publish (`p`), first byte 0x01:
 *   `[u8 0x01][u8 priority][u16 tag bytes][u16 queue bytes][tag utf8][queue utf8][message bytes]`.
 *   The message bytes are the envelope as the publisher sent it, stored raw: replay copies them into
 *   a Buffer without decoding a string or parsing JSON, and they stay a Buffer (off the JS heap, not
 *   traced by the GC) until a delivery turns them into the frame's string.
 * - JSON (first byte `{`): every other record, and every record of journals written before the
 *   binary publish (they replay as they are; compaction rewrites their publishes as binary).
 *
 * Everything read is hostile: a frame is accepted only whole and with its crc, a binary publish only
 * if its lengths fit inside its payload, a JSON record only if it has the fields of its kind.
 */
import * as fsp from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { ResultMeta } from '../../backends/types.js';
import { parseJson, stringifyJson } from '../../serialization/json.js';

export type JournalRecord =
  /** `raw`: the envelope's UTF-8 bytes. */
  | { t: 'p'; tag: string; queue: string; priority: number; raw: Buffer }
  | { t: 'a'; tags: string[] }
  /** Dead-letter move: `tag` is gone, `newTag` is appended to `queue` (the dead-letter list). */
  | { t: 'm'; tag: string; newTag: string; queue: string; raw: string }
  | { t: 'r'; meta: ResultMeta; expiresAt: number }
  | { t: 'f'; taskId: string }
  /** A beat lease's state field (lease.ts): the last write of a field wins. */
  | { t: 'b'; name: string; field: string; value: string };

export const HEADER = 8;
const BIN_PUBLISH = 0x01;
/** type, priority, tag length, queue length. */
const BIN_FIXED = 6;
const U16_MAX = 0xffff;

export function encodeRecord(rec: JournalRecord): Buffer {
  if (rec.t === 'p') {
    const tagLen = Buffer.byteLength(rec.tag, 'utf8');
    const queueLen = Buffer.byteLength(rec.queue, 'utf8');
    if (tagLen <= U16_MAX && queueLen <= U16_MAX) return encodeBinaryPublish(rec, tagLen, queueLen);
    // A queue name past 64 KB (nothing sane, but a client may send one): the JSON form still holds it.
    return frame(Buffer.from(stringifyJson({ ...rec, raw: rec.raw.toString('utf8') }), 'utf8'));
  }
  return frame(Buffer.from(stringifyJson(rec), 'utf8'));
}

function encodeBinaryPublish(rec: JournalRecord & { t: 'p' }, tagLen: number, queueLen: number): Buffer {
  const len = BIN_FIXED + tagLen + queueLen + rec.raw.length;
  const out = Buffer.allocUnsafe(HEADER + len);
  out.writeUInt32BE(len, 0);
  let o = HEADER;
  out[o++] = BIN_PUBLISH;
  out[o++] = Math.min(9, Math.max(0, Math.trunc(rec.priority) || 0));
  out.writeUInt16BE(tagLen, o);
  out.writeUInt16BE(queueLen, o + 2);
  o += 4;
  o += out.write(rec.tag, o, 'utf8');
  o += out.write(rec.queue, o, 'utf8');
  rec.raw.copy(out, o);
  out.writeUInt32BE(crc32(out.subarray(HEADER)), 4);
  return out;
}

function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32(payload), 4);
  payload.copy(out, HEADER);
  return out;
}

/**
 * Why decoding stopped before the end: the frame there is cut short (a crash mid-write) or fails
 * its crc. A whole frame with a good crc that is not a record (a binary publish whose lengths do
 * not fit, JSON without the fields of its kind) is skipped and counted instead: it was written
 * whole, so the records after it are sound, and stopping there would cut them off.
 */
export type StopReason = 'torn' | 'crc';

/**
 * Decodes frames from a buffer. A binary publish's `raw` is a view of `buf` (no copy, no allocation
 * of its bytes): the buffer must not be reused while a message is kept (readJournal reads each chunk
 * into a new one, and unpinSparse() frees chunks that hold few live messages).
 */
class FrameDecoder {
  /** The last binary publish's queue, so a backlog of one queue shares one string. */
  private lastQueue = '';
  private lastQueueBytes = Buffer.alloc(0);

  /**
   * Decode whole frames from `buf[start, end)`; returns where it stopped and why (undefined: at a
   * frame boundary that may just need more bytes).
   */
  skipped = 0;

  decode(buf: Buffer, start: number, end: number, onRecord: (r: JournalRecord) => void): { off: number; stop?: StopReason } {
    let off = start;
    while (off + HEADER <= end) {
      const len = buf.readUInt32BE(off);
      const stop = off + HEADER + len;
      if (stop > end) return { off };
      const p = off + HEADER;
      if (crc32(buf.subarray(p, stop)) !== buf.readUInt32BE(off + 4)) return { off, stop: 'crc' };
      const rec = len > 0 && buf[p] === BIN_PUBLISH ? this.binaryPublish(buf, p, stop) : jsonRecord(buf, p, stop);
      if (rec) onRecord(rec);
      else this.skipped++;
      off = stop;
    }
    return { off };
  }

  private binaryPublish(buf: Buffer, p: number, end: number): JournalRecord | undefined {
    if (end - p < BIN_FIXED) return undefined;
    const priority = buf[p + 1]!;
    const tagLen = buf.readUInt16BE(p + 2);
    const queueLen = buf.readUInt16BE(p + 4);
    const t = p + BIN_FIXED;
    const q = t + tagLen;
    const r = q + queueLen;
    if (priority > 9 || r > end) return undefined;
    const tag = buf.toString('utf8', t, q);
    if (!sameBytes(this.lastQueueBytes, buf, q, r)) {
      this.lastQueueBytes = Buffer.from(buf.subarray(q, r));
      this.lastQueue = this.lastQueueBytes.toString('utf8');
    }
    const raw = buf.subarray(r, end);
    return { t: 'p', tag, queue: this.lastQueue, priority, raw };
  }
}

/** `a` equals `b[start, end)`: a plain loop, as queue names are short (Buffer.compare's call cost was 7% of a replay). */
function sameBytes(a: Buffer, b: Buffer, start: number, end: number): boolean {
  if (a.length !== end - start) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[start + i]) return false;
  return true;
}

/**
 * One JSON record. Only a result (`r`: its meta holds task values, which may be integers past 2**53
 * or NaN) needs parseJson's exact reading; every other record holds strings, tags and small integers,
 * and a message's bytes are one JSON string, so plain JSON.parse reads them exactly.
 */
function jsonRecord(buf: Buffer, p: number, end: number): JournalRecord | undefined {
  const text = buf.toString('utf8', p, end);
  let rec: unknown;
  try {
    rec = JSON.parse(text);
    if ((rec as { t?: unknown } | null)?.t === 'r') rec = parseJson(text);
  } catch {
    try {
      rec = parseJson(text); // NaN or Infinity in a result
    } catch {
      return undefined;
    }
  }
  return checked(rec);
}

const isStr = (v: unknown): v is string => typeof v === 'string';

function checked(v: unknown): JournalRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  switch (r.t) {
    case 'p':
      // A publish of the JSON format (journals from before the binary publish).
      if (!isStr(r.tag) || !isStr(r.queue) || !isStr(r.raw) || typeof r.priority !== 'number') return undefined;
      return { t: 'p', tag: r.tag, queue: r.queue, priority: r.priority, raw: Buffer.from(r.raw, 'utf8') };
    case 'a':
      return Array.isArray(r.tags) && r.tags.every(isStr) ? (v as JournalRecord) : undefined;
    case 'm':
      return isStr(r.tag) && isStr(r.newTag) && isStr(r.queue) && isStr(r.raw) ? (v as JournalRecord) : undefined;
    case 'r':
      return typeof r.meta === 'object' && r.meta !== null && isStr((r.meta as { task_id?: unknown }).task_id) && typeof r.expiresAt === 'number' ? (v as JournalRecord) : undefined;
    case 'f':
      return isStr(r.taskId) ? (v as JournalRecord) : undefined;
    case 'b':
      return isStr(r.name) && isStr(r.field) && isStr(r.value) ? (v as JournalRecord) : undefined;
    default:
      return undefined;
  }
}

/** Parse frames from `buf`; stops at the first torn or corrupt frame. */
export function decodeRecords(buf: Buffer): { records: JournalRecord[]; validBytes: number; skipped: number; stop?: StopReason } {
  const records: JournalRecord[] = [];
  const decoder = new FrameDecoder();
  const { off, stop } = decoder.decode(buf, 0, buf.length, (r) => records.push(r));
  return { records, validBytes: off, skipped: decoder.skipped, stop: stop ?? (off < buf.length ? 'torn' : undefined) };
}

export interface ReadResult {
  /** Bytes of whole valid frames from the start (where a torn or corrupt tail begins). */
  validBytes: number;
  size: number;
  /** Whole frames with a good crc that were not records (skipped). */
  skipped: number;
  stop?: StopReason;
}

/** Bytes read per read() of the journal: large reads, each into a new buffer (bodies are views of it). */
const READ_CHUNK = 8 * 1024 * 1024;

/**
 * Read the journal file `file` front to back in large chunks, calling `onRecord` per record; stops at
 * the first torn or corrupt frame. Returns the bytes of whole valid records and why it stopped early.
 */
export async function readJournal(file: string, onRecord: (r: JournalRecord) => void): Promise<ReadResult> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { validBytes: 0, size: 0, skipped: 0 };
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    const decoder = new FrameDecoder();
    let buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(size, HEADER)));
    let have = 0; // bytes in buf
    let pos = 0; // file offset of buf[0]
    let eof = false;
    for (;;) {
      if (!eof && have < buf.length) {
        const { bytesRead } = await fh.read(buf, have, buf.length - have, pos + have);
        if (bytesRead === 0) eof = true;
        have += bytesRead;
      }
      const { off, stop } = decoder.decode(buf, 0, have, onRecord);
      const skipped = decoder.skipped;
      if (stop) return { validBytes: pos + off, size, skipped, stop };
      if (eof) return { validBytes: pos + off, size, skipped, stop: off < have ? 'torn' : undefined };
      if (off > 0) {
        // The frame cut by the chunk's end goes to the front of the next chunk; this one is kept by its views.
        const next = Buffer.allocUnsafe(Math.max(READ_CHUNK, have - off));
        buf.copy(next, 0, off, have);
        buf = next;
        have -= off;
        pos += off;
      } else if (have === buf.length) {
        // One frame larger than the buffer: grow to hold it (its length is in its header).
        const need = have >= HEADER ? HEADER + buf.readUInt32BE(0) : buf.length * 2;
        if (pos + need > size) return { validBytes: pos, size, skipped: decoder.skipped, stop: 'torn' };
        const bigger = Buffer.allocUnsafe(Math.max(need, buf.length * 2));
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
    }
  } finally {
    await fh.close();
  }
}

/** Smaller buffers (Node's 8 KB pool, a small journal's one chunk) waste too little to copy out of. */
const UNPIN_MIN = 64 * 1024;

/**
 * Replayed bodies are views of the chunks they were read in, so one live message keeps its whole
 * chunk: once the acks are known, the live messages of a chunk that is less than half live are
 * copied out and the chunk can go. After that a replay holds at most about twice its live bytes.
 */
export function unpinSparse(messages: ReadonlyArray<{ raw: Buffer }>): void {
  // Messages are in journal order, so a chunk's messages come in one run: one map update per run.
  const liveBytes = new Map<ArrayBufferLike, number>();
  let run: ArrayBufferLike | undefined;
  let bytes = 0;
  const flush = () => {
    if (run && run.byteLength >= UNPIN_MIN) liveBytes.set(run, (liveBytes.get(run) ?? 0) + bytes);
  };
  for (const m of messages) {
    if (m.raw.buffer !== run) {
      flush();
      run = m.raw.buffer;
      bytes = 0;
    }
    bytes += m.raw.length;
  }
  flush();
  const sparse = new Set<ArrayBufferLike>();
  for (const [chunk, n] of liveBytes) if (n * 2 < chunk.byteLength) sparse.add(chunk);
  if (sparse.size === 0) return;
  for (const m of messages) if (sparse.has(m.raw.buffer)) m.raw = Buffer.from(m.raw);
}

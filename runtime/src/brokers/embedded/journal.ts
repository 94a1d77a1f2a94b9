/**
 * The embedded broker's append-only journal (`<dir>/.sprig/journal/journal.log`).
 *
 * Durability (fsync policy)
 * -------------------------
 * Every change is appended as a record framed `[u32 length][u32 crc32][payload]` (big-endian; a
 * publish's payload is binary with the message bytes raw, the others JSON: journal-codec.ts).
 *
 * - Publishes use group commit: every publish that reaches the broker in the same event-loop tick
 *   (from any number of clients) is appended with ONE write followed by ONE fdatasync, and the
 *   publisher's reply is sent only after that fdatasync has returned. While one commit is on disk,
 *   the next tick's publishes gather into the next commit, so the batch grows with the load. A
 *   publish that got its reply survives `kill -9` of the broker and a power loss.
 * - Acks, dead-letter moves, purges and task results are appended in the same write stream but are
 *   not waited on (they ride along with the next fdatasync). Losing an ack on power loss means the
 *   message is delivered again (at-least-once), never that a message is lost; losing a result means
 *   a client sees the task as PENDING again.
 * - `fsync: 'batch'` (opt-in) answers publishes after the write() reaches the OS and fdatasyncs at
 *   most every 200 ms: it survives a crash of the broker process but may lose the last 200 ms of
 *   publishes on power loss.
 *
 * Start-up replays the journal, read in large chunks; a torn tail (a record cut short or failing its CRC, e.g. after a
 * crash mid-write) is truncated and everything before it is kept. When the file passes
 * `compactBytes` (64 MB) and less than half of it is still live, a snapshot of the live messages
 * and results is written to a new file, fsynced and renamed over the journal atomically.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { ResultMeta } from '../../backends/types.js';
import type { Logger } from '../../util/log.js';
import { encodeRecord, readJournal, unpinSparse, type JournalRecord } from './journal-codec.js';

export { decodeRecords, encodeRecord, type JournalRecord } from './journal-codec.js';

export type FsyncPolicy = 'always' | 'batch';

export interface ReplayedMessage {
  tag: string;
  queue: string;
  priority: number;
  /** The envelope's UTF-8 bytes. */
  raw: Buffer;
}

export interface ReplayState {
  /** Live messages in journal order (the order they go back into their queues). */
  messages: ReplayedMessage[];
  results: Array<{ meta: ResultMeta; expiresAt: number }>;
  /** Beat lease state fields, as `b` records left them. */
  leaseState: Array<{ name: string; field: string; value: string }>;
  records: number;
  /** Bytes cut off a torn tail (0 when the file was clean). */
  truncatedBytes: number;
}

export interface JournalOptions {
  fsync?: FsyncPolicy;
  /** Consider compaction past this size (bytes). Default 64 MB. */
  compactBytes?: number;
  /**
   * Past compactBytes, how often (ms) to look again whether the live part fell under half, even
   * before the journal grew by its live size (a replayed 1M backlog draining). Default 5 s.
   */
  liveCheckMs?: number;
  log?: Logger;
}

const DEFAULT_LIVE_CHECK_MS = 5000;

/** What compaction needs from the owner of the state. Called synchronously, between writes. */
export interface Compactor {
  liveBytes(): number;
  snapshot(): Iterable<JournalRecord>;
}

/** What the Hub needs from a journal: the file Journal below, or NULL_JOURNAL (memory://). */
export interface JournalPort {
  setCompactor(c: Compactor): void;
  /** Make `records` durable, then run `onDurable` (synchronously) and resolve. */
  commit(records: readonly JournalRecord[], onDurable: () => void): Promise<void>;
  /** Record without waiting. */
  append(records: readonly JournalRecord[]): void;
}

/** No journal: every change is "durable" at once and nothing survives the process. */
export const NULL_JOURNAL: JournalPort = {
  setCompactor: () => undefined,
  commit: async (_records, onDurable) => onDurable(),
  append: () => undefined,
};

export const EMPTY_STATE: ReplayState = { messages: [], results: [], leaseState: [], records: 0, truncatedBytes: 0 };

const BATCH_FSYNC_MS = 200;
export const DEFAULT_COMPACT_BYTES = 64 * 1024 * 1024;

/**
 * Folds records, in journal order, into the live state. Messages go into an array in journal order
 * and acks into a set of gone tags, applied once at the end: no map of every pending message (a
 * string-keyed Map of 1M tags was a third of a replay's CPU), and a journal without acks (a backlog
 * that was only published) needs no lookup at all. That is exact because a tag is published once:
 * tags are fresh per publish (boot id + sequence) and a compaction snapshot starts a new file.
 * Replay is idempotent for what can repeat: a dead-letter move appended while a snapshot was taken
 * may repeat a dead letter the snapshot already holds (the first copy is kept).
 */
class Replay {
  private readonly messages: ReplayedMessage[] = [];
  private readonly gone = new Set<string>();
  /** Tags that dead-letter moves created (the ones that can appear twice). */
  private moved: Set<string> | undefined;
  private readonly results = new Map<string, { meta: ResultMeta; expiresAt: number }>();
  private readonly leaseState = new Map<string, { name: string; field: string; value: string }>();
  records = 0;

  apply(r: JournalRecord): void {
    this.records++;
    switch (r.t) {
      case 'p':
        this.messages.push(r); // the record itself (a ReplayedMessage with its `t`): one object less per message
        break;
      case 'a':
        for (const t of r.tags) this.gone.add(t);
        break;
      case 'm':
        this.gone.add(r.tag);
        this.messages.push({ tag: r.newTag, queue: r.queue, priority: 0, raw: Buffer.from(r.raw, 'utf8') });
        (this.moved ??= new Set()).add(r.newTag);
        break;
      case 'r':
        this.results.set(r.meta.task_id, { meta: r.meta, expiresAt: r.expiresAt });
        break;
      case 'f':
        this.results.delete(r.taskId);
        break;
      case 'b':
        this.leaseState.set(JSON.stringify([r.name, r.field]), { name: r.name, field: r.field, value: r.value });
        break;
    }
  }

  private live(): ReplayedMessage[] {
    const { gone, moved } = this;
    if (gone.size === 0 && !moved) {
      unpinSparse(this.messages);
      return this.messages;
    }
    const seen = new Set<string>();
    const live = this.messages.filter((m) => {
      if (gone.has(m.tag)) return false;
      if (!moved?.has(m.tag)) return true;
      if (seen.has(m.tag)) return false;
      seen.add(m.tag);
      return true;
    });
    unpinSparse(live);
    return live;
  }

  state(truncatedBytes: number): ReplayState {
    const now = Date.now();
    return {
      messages: this.live(),
      results: [...this.results.values()].filter((r) => r.expiresAt > now),
      leaseState: [...this.leaseState.values()],
      records: this.records,
      truncatedBytes,
    };
  }
}

interface Waiter {
  onDurable: () => void;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Journal implements JournalPort {
  private pending: Buffer[] = [];
  private waiters: Waiter[] = [];
  private writing = false;
  private scheduled = false;
  private dirty = false;
  private closed = false;
  private size: number;
  private compactAt: number;
  /** When the live part is looked at again regardless of compactAt (see JournalOptions.liveCheckMs). */
  private nextLiveCheck = 0;
  private compactor: Compactor | undefined;
  private idle: Array<() => void> = [];
  private readonly syncTimer: NodeJS.Timeout | undefined;

  private constructor(
    private fh: fsp.FileHandle,
    readonly file: string,
    size: number,
    private readonly opts: Required<Pick<JournalOptions, 'fsync' | 'compactBytes' | 'liveCheckMs'>> & { log?: Logger },
  ) {
    this.size = size;
    this.compactAt = opts.compactBytes;
    if (opts.fsync === 'batch') {
      this.syncTimer = setInterval(() => void this.syncIfDirty(), BATCH_FSYNC_MS);
      this.syncTimer.unref();
    }
  }

  /** Open (creating) the journal in `dir`, replaying what is there. */
  static async open(dir: string, opts: JournalOptions = {}): Promise<{ journal: Journal; state: ReplayState }> {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, 'journal.log');
    await fsp.rm(file + '.compact', { force: true });
    const replay = new Replay();
    const read = await readJournal(file, (r) => replay.apply(r));
    const truncatedBytes = read.size - read.validBytes;
    if (read.skipped > 0) opts.log?.warn(`journal ${file}: skipped ${read.skipped} whole frames that are not records`);
    if (truncatedBytes > 0) {
      const why = read.stop === 'crc' ? 'a record failing its crc' : 'a record cut short';
      opts.log?.warn(`journal ${file}: dropping a torn tail of ${truncatedBytes} bytes (${why}) after ${replay.records} records`);
      await fsp.truncate(file, read.validBytes);
    }
    const fh = await fsp.open(file, 'a', 0o600);
    await fsyncDir(dir);
    const journal = new Journal(fh, file, read.validBytes, {
      fsync: opts.fsync ?? 'always',
      compactBytes: opts.compactBytes ?? DEFAULT_COMPACT_BYTES,
      liveCheckMs: opts.liveCheckMs ?? DEFAULT_LIVE_CHECK_MS,
      log: opts.log,
    });
    return { journal, state: replay.state(truncatedBytes) };
  }

  setCompactor(c: Compactor): void {
    this.compactor = c;
  }

  get bytes(): number {
    return this.size;
  }

  /**
   * Append and wait for durability (see the policy above). `onDurable` runs synchronously once the
   * records are on disk, before any later compaction snapshot: apply the change to memory there.
   */
  commit(records: readonly JournalRecord[], onDurable: () => void): Promise<void> {
    if (this.closed) return Promise.reject(new Error('journal is closed'));
    return new Promise((resolve, reject) => {
      for (const r of records) this.pending.push(encodeRecord(r));
      this.waiters.push({ onDurable, resolve, reject });
      this.schedule();
    });
  }

  /** Append without waiting (acks, moves, results): written with the next commit. */
  append(records: readonly JournalRecord[]): void {
    if (this.closed) return;
    for (const r of records) this.pending.push(encodeRecord(r));
    this.schedule();
  }

  /** Write everything pending, fsync and close. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.whenIdle();
    this.closed = true;
    if (this.syncTimer) clearInterval(this.syncTimer);
    await this.fh.datasync().catch(() => undefined);
    await this.fh.close();
  }

  /** Resolves once nothing is pending or being written. */
  whenIdle(): Promise<void> {
    if (!this.writing && !this.scheduled && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.writing) return;
    this.scheduled = true;
    // setImmediate, not a microtask: every frame read in this I/O phase joins the same commit.
    setImmediate(() => {
      this.scheduled = false;
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    while (this.pending.length > 0) {
      const bufs = this.pending;
      const waiters = this.waiters;
      this.pending = [];
      this.waiters = [];
      const data = bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs);
      const before = this.size;
      try {
        await writeAll(this.fh, data);
        this.size += data.length;
        if (waiters.length > 0 && this.opts.fsync === 'always') await this.fh.datasync();
        else this.dirty = true;
        for (const w of waiters) w.onDurable();
        for (const w of waiters) w.resolve();
      } catch (err) {
        this.opts.log?.error(`journal write failed: ${(err as Error).message}`);
        // Cut a partial write off so later records are not hidden behind a corrupt frame.
        await this.fh.truncate(before).catch(() => undefined);
        this.size = before;
        for (const w of waiters) w.reject(err as Error);
      }
      if (this.compactor && this.size > this.opts.compactBytes && (this.size > this.compactAt || Date.now() >= this.nextLiveCheck)) {
        await this.maybeCompact(this.compactor);
      }
    }
    this.writing = false;
    for (const f of this.idle.splice(0)) f();
  }

  private async syncIfDirty(): Promise<void> {
    if (!this.dirty || this.closed) return;
    this.dirty = false;
    await this.fh.datasync().catch((err: Error) => this.opts.log?.error(`journal fdatasync failed: ${err.message}`));
  }

  private async maybeCompact(c: Compactor): Promise<void> {
    this.nextLiveCheck = Date.now() + this.opts.liveCheckMs;
    const live = c.liveBytes();
    if (live * 2 > this.size) {
      // Mostly live. A rewrite costs about `live` bytes, so look again once at least that much more
      // has been appended (a large backlog is not rewritten on every commit), or at the next live
      // check: a backlog that drains leaves the journal mostly dead without growing it much.
      if (this.size > this.compactAt) this.compactAt = this.size + Math.max(live, this.opts.compactBytes / 4);
      return;
    }
    const tmp = this.file + '.compact';
    const started = Date.now();
    const snapshot = [...c.snapshot()].map(encodeRecord);
    let out: fsp.FileHandle | undefined;
    try {
      out = await fsp.open(tmp, 'w', 0o600);
      let written = 0;
      for (let i = 0; i < snapshot.length; i += 4096) {
        const chunk = Buffer.concat(snapshot.slice(i, i + 4096));
        await writeAll(out, chunk);
        written += chunk.length;
      }
      await out.sync();
      await out.close();
      out = undefined;
      await fsp.rename(tmp, this.file);
      await fsyncDir(path.dirname(this.file));
      const old = this.fh;
      this.fh = await fsp.open(this.file, 'a', 0o600);
      await old.close().catch(() => undefined);
      const was = this.size;
      this.size = written;
      this.compactAt = Math.max(this.opts.compactBytes, written + Math.max(written, this.opts.compactBytes / 4));
      this.opts.log?.info(
        `journal compacted: ${was} -> ${written} bytes (${snapshot.length} records) in ${Date.now() - started} ms`,
      );
    } catch (err) {
      this.opts.log?.error(`journal compaction failed (the journal is unchanged): ${(err as Error).message}`);
      await out?.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true });
      this.compactAt = this.size + this.opts.compactBytes;
    }
  }
}

async function writeAll(fh: fsp.FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, null);
    off += bytesWritten;
  }
}

/** A rename or a new file is durable only once its directory entry is. */
async function fsyncDir(dir: string): Promise<void> {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* not supported on every platform (Windows); the data itself is synced */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

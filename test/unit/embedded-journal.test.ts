import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Journal, decodeRecords, encodeRecord, type JournalRecord } from '../../runtime/src/brokers/embedded/journal.js';
import type { ResultMeta } from '../../runtime/src/backends/types.js';
import { crc32 } from 'node:zlib';

const tmp = () => fs.mkdtempSync(os.tmpdir() + '/sprig-test-');
/** A frame as journals before the binary publish wrote every record: the JSON payload. */
const jsonFrame = (rec: object): Buffer => {
  const payload = Buffer.from(JSON.stringify(rec), 'utf8');
  const head = Buffer.alloc(8);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
};
const journalFile = (dir: string) => path.join(dir, 'journal.log');
const meta = (id: string): ResultMeta => ({
  task_id: id,
  status: 'SUCCESS',
  result: 1,
  traceback: null,
  children: [],
  date_done: null,
});

describe('embedded journal', () => {
  it('frames records with length and crc32, and stops at a corrupt one', () => {
    const recs: JournalRecord[] = [
      { t: 'p', tag: 'a', queue: 'q', priority: 0, raw: Buffer.from('{"x":1}') },
      { t: 'a', tags: ['a'] },
    ];
    const buf = Buffer.concat(recs.map(encodeRecord));
    assert.deepEqual(decodeRecords(buf).records, recs);
    const flipped = Buffer.from(buf);
    flipped[flipped.length - 2] ^= 0xff;
    const d = decodeRecords(flipped);
    assert.equal(d.records.length, 1);
    assert.equal(d.validBytes, encodeRecord(recs[0]!).length);
    assert.equal(decodeRecords(buf.subarray(0, buf.length - 3)).records.length, 1);
  });

  it('reads a result exactly (an integer past 2**53) and a message whose bytes hold long digit runs as they were', () => {
    const big = { ...meta('big'), result: { n: 2n ** 63n - 1n, small: 5 } } as unknown as ResultMeta;
    const raw = '{"body":"12345678901234567890","headers":{"id":"9007199254740993"},"n":9007199254740993}';
    const recs: JournalRecord[] = [
      { t: 'r', meta: big, expiresAt: 1 },
      { t: 'p', tag: 't', queue: 'q', priority: 0, raw: Buffer.from(raw) },
    ];
    const got = decodeRecords(Buffer.concat(recs.map(encodeRecord))).records;
    assert.equal(got.length, 2);
    const r = (got[0] as { meta: { result: { n: unknown; small: unknown } } }).meta.result;
    assert.equal(r.n, 2n ** 63n - 1n, 'a BigInt, not the nearest double');
    assert.equal(r.small, 5);
    assert.equal((got[1] as { raw: Buffer }).raw.toString(), raw, 'the message bytes, character for character');
  });

  it('replays publishes, acks, dead-letter moves, results and forgets; drops expired results', async () => {
    const dir = tmp();
    const { journal } = await Journal.open(dir);
    const later = Date.now() + 60_000;
    await journal.commit(
      [
        { t: 'p', tag: 'a', queue: 'q', priority: 0, raw: Buffer.from('A') },
        { t: 'p', tag: 'b', queue: 'q', priority: 3, raw: Buffer.from('B') },
        { t: 'p', tag: 'c', queue: 'q', priority: 0, raw: Buffer.from('C') },
      ],
      () => undefined,
    );
    journal.append([
      { t: 'a', tags: ['a'] },
      { t: 'm', tag: 'b', newTag: 'b2', queue: 'q.dead-letter', raw: 'DL' },
      { t: 'r', meta: meta('t1'), expiresAt: later },
      { t: 'r', meta: meta('t2'), expiresAt: later },
      { t: 'r', meta: meta('old'), expiresAt: Date.now() - 1 },
      { t: 'f', taskId: 't2' },
    ]);
    await journal.close();
    const { journal: j2, state } = await Journal.open(dir);
    assert.deepEqual(
      state.messages.map((m) => [m.tag, m.queue, m.raw.toString()]),
      [
        ['c', 'q', 'C'],
        ['b2', 'q.dead-letter', 'DL'],
      ],
    );
    assert.deepEqual(
      state.results.map((r) => r.meta.task_id),
      ['t1'],
    );
    assert.equal(state.truncatedBytes, 0);
    await j2.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('truncates a torn tail and keeps appending after the valid prefix', async () => {
    const dir = tmp();
    const { journal } = await Journal.open(dir);
    await journal.commit([{ t: 'p', tag: 'a', queue: 'q', priority: 0, raw: Buffer.from('A') }], () => undefined);
    await journal.close();
    const file = path.join(dir, 'journal.log');
    const good = fs.statSync(file).size;
    // A crash mid-write: a header that promises more bytes than follow.
    const torn = encodeRecord({ t: 'p', tag: 'b', queue: 'q', priority: 0, raw: Buffer.from('B') }).subarray(0, 12);
    fs.appendFileSync(file, torn);
    const { journal: j2, state } = await Journal.open(dir);
    assert.equal(state.truncatedBytes, 12);
    assert.equal(fs.statSync(file).size, good);
    await j2.commit([{ t: 'p', tag: 'c', queue: 'q', priority: 0, raw: Buffer.from('C') }], () => undefined);
    await j2.close();
    const { journal: j3, state: s3 } = await Journal.open(dir);
    assert.deepEqual(
      s3.messages.map((m) => m.tag),
      ['a', 'c'],
    );
    await j3.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('groups the commits of one tick into one write', async () => {
    const dir = tmp();
    const { journal } = await Journal.open(dir);
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        journal.commit([{ t: 'p', tag: `t${i}`, queue: 'q', priority: 0, raw: Buffer.from('x') }], () => order.push(i)),
      ),
    );
    assert.deepEqual(order, Array.from({ length: 50 }, (_, i) => i));
    await journal.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('compacts to a snapshot once past the threshold and mostly dead', async () => {
    const dir = tmp();
    const { journal } = await Journal.open(dir, { compactBytes: 4096 });
    const live: JournalRecord[] = [{ t: 'p', tag: 'keep', queue: 'q', priority: 0, raw: Buffer.from('K') }];
    journal.setCompactor({ liveBytes: () => 1, snapshot: () => live });
    for (let i = 0; i < 100; i++) {
      await journal.commit([{ t: 'p', tag: `t${i}`, queue: 'q', priority: 0, raw: Buffer.from('x'.repeat(100)) }], () => undefined);
      journal.append([{ t: 'a', tags: [`t${i}`] }]);
    }
    await journal.whenIdle();
    assert.ok(journal.bytes < 4096, `journal is ${journal.bytes} bytes`);
    await journal.close();
    const { journal: j2, state } = await Journal.open(dir);
    assert.ok(state.messages.some((m) => m.tag === 'keep'));
    await j2.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('compacts a large backlog once it drains, before the journal grows by its live size again', async () => {
    const dir = tmp();
    const { journal } = await Journal.open(dir, { compactBytes: 4096, liveCheckMs: 50 });
    let live = new Map<string, JournalRecord>();
    journal.setCompactor({ liveBytes: () => live.size * 120, snapshot: () => live.values() });
    for (let i = 0; i < 100; i++) {
      const rec: JournalRecord = { t: 'p', tag: `t${i}`, queue: 'q', priority: 0, raw: Buffer.from('x'.repeat(100)) };
      live.set(`t${i}`, rec);
      await journal.commit([rec], () => undefined);
    }
    await journal.whenIdle();
    const full = journal.bytes;
    // All live: looked at, not rewritten, and the size-based check moves past the live size.
    assert.ok(full > 8000, `journal is ${full} bytes`);
    // Drain 90 of them: the acks add little; the live check (not the size) finds it mostly dead.
    live = new Map([...live].slice(90));
    for (let i = 0; i < 90; i++) journal.append([{ t: 'a', tags: [`t${i}`] }]);
    await journal.whenIdle();
    await new Promise((r) => setTimeout(r, 80));
    journal.append([{ t: 'a', tags: ['none'] }]);
    await journal.whenIdle();
    assert.ok(journal.bytes < full / 3, `journal is ${journal.bytes} bytes after the drain (was ${full})`);
    await journal.close();
    const { journal: j2, state } = await Journal.open(dir);
    assert.deepEqual(state.messages.map((m) => m.tag).sort(), [...live.keys()].sort());
    await j2.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes a publish as a binary record holding the message bytes raw, and reads them back byte for byte', () => {
    const raw = Buffer.from('{"body":"ünïcödé ✓","headers":{"id":"x"}}', 'utf8');
    const rec: JournalRecord = { t: 'p', tag: 'ab12.3z', queue: 'q.émoji', priority: 7, raw };
    const frame = encodeRecord(rec);
    assert.equal(frame[8], 0x01, 'the binary publish type byte, not JSON');
    assert.ok(frame.subarray(frame.length - raw.length).equals(raw), 'the body is stored as it came, at the end');
    const got = decodeRecords(frame);
    assert.deepEqual(got.records, [rec]);
    assert.equal(got.validBytes, frame.length);
  });

  it('skips a whole frame whose binary lengths do not fit (good crc), keeping the records after it', () => {
    const bad = Buffer.from([0x01, 0, 0xff, 0xff, 0, 1, 0x41]); // a tag of 65535 bytes in a 7-byte payload
    const head = Buffer.alloc(8);
    head.writeUInt32BE(bad.length, 0);
    head.writeUInt32BE(crc32(bad), 4);
    const after = encodeRecord({ t: 'a', tags: ['z'] });
    const got = decodeRecords(Buffer.concat([head, bad, after]));
    assert.deepEqual(got.records, [{ t: 'a', tags: ['z'] }]);
    assert.equal(got.skipped, 1);
    assert.equal(got.stop, undefined);
  });

  it('drops a torn binary publish at the tail (cut short, or failing its crc) and says why', async () => {
    for (const tear of ['cut', 'crc'] as const) {
      const dir = tmp();
      const { journal } = await Journal.open(dir);
      await journal.commit([{ t: 'p', tag: 'a', queue: 'q', priority: 0, raw: Buffer.from('A'.repeat(100)) }], () => undefined);
      await journal.close();
      const good = fs.statSync(journalFile(dir)).size;
      const next = encodeRecord({ t: 'p', tag: 'b', queue: 'q', priority: 0, raw: Buffer.from('B'.repeat(100)) });
      if (tear === 'crc') next[next.length - 10] ^= 0x20;
      fs.appendFileSync(journalFile(dir), tear === 'cut' ? next.subarray(0, 60) : next);
      const warnings: string[] = [];
      const log = { warn: (m: string) => warnings.push(m), info: () => undefined, error: () => undefined, debug: () => undefined } as never;
      const { journal: j2, state } = await Journal.open(dir, { log });
      assert.deepEqual(state.messages.map((m) => [m.tag, m.raw.toString()]), [['a', 'A'.repeat(100)]]);
      assert.equal(state.truncatedBytes, tear === 'cut' ? 60 : next.length);
      assert.equal(fs.statSync(journalFile(dir)).size, good);
      assert.match(warnings.join('\n'), tear === 'cut' ? /cut short/ : /failing its crc/);
      await j2.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('replays a journal of the old all-JSON format, appends binary records after it, and compacts it to binary', async () => {
    const dir = tmp();
    const raw = '{"body":"W10=","headers":{"id":"9007199254740993"}}';
    fs.writeFileSync(
      journalFile(dir),
      Buffer.concat([
        jsonFrame({ t: 'p', tag: 'o1', queue: 'q', priority: 0, raw }),
        jsonFrame({ t: 'p', tag: 'o2', queue: 'q', priority: 2, raw: 'two' }),
        jsonFrame({ t: 'a', tags: ['o2'] }),
        jsonFrame({ t: 'r', meta: meta('t1'), expiresAt: Date.now() + 60_000 }),
      ]),
    );
    const { journal, state } = await Journal.open(dir, { compactBytes: 1 });
    assert.deepEqual(state.messages.map((m) => [m.tag, m.priority, m.raw.toString()]), [['o1', 0, raw]]);
    assert.deepEqual(state.results.map((r) => r.meta.task_id), ['t1']);
    const live: JournalRecord[] = [...state.messages.map((m) => ({ t: 'p' as const, ...m })), { t: 'p', tag: 'n1', queue: 'q', priority: 0, raw: Buffer.from('new') }];
    journal.setCompactor({ liveBytes: () => 0, snapshot: () => live });
    await journal.commit([live[1]!], () => undefined);
    await journal.whenIdle();
    await journal.close();
    const bytes = fs.readFileSync(journalFile(dir));
    assert.equal(bytes[8], 0x01, 'compaction rewrote the old publish as binary');
    const { journal: j2, state: s2 } = await Journal.open(dir);
    assert.deepEqual(s2.messages.map((m) => [m.tag, m.raw.toString()]), [['o1', raw], ['n1', 'new']]);
    await j2.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads a journal larger than its read chunk, with records across chunk ends and one larger than a chunk', async () => {
    const dir = tmp();
    const recs: JournalRecord[] = [];
    for (let i = 0; i < 9000; i++) recs.push({ t: 'p', tag: `t${i}`, queue: `q${i % 3}`, priority: i % 10, raw: Buffer.alloc(997 + (i % 13), i % 251) });
    recs.splice(4500, 0, { t: 'p', tag: 'huge', queue: 'q0', priority: 0, raw: Buffer.alloc(9 * 1024 * 1024, 7) });
    fs.writeFileSync(journalFile(dir), Buffer.concat(recs.map(encodeRecord)));
    const { journal, state } = await Journal.open(dir);
    assert.equal(state.truncatedBytes, 0);
    assert.equal(state.messages.length, recs.length);
    for (let i = 0; i < recs.length; i++) {
      const want = recs[i] as JournalRecord & { t: 'p' };
      const got = state.messages[i]!;
      if (got.tag !== want.tag || got.queue !== want.queue || got.priority !== want.priority || !got.raw.equals(want.raw)) assert.fail(`record ${i} differs`);
    }
    await journal.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps replayed bodies as views of the read chunk, and copies the few live ones out of a mostly acked chunk', async () => {
    const dir = tmp();
    const recs: JournalRecord[] = Array.from({ length: 1000 }, (_, i) => ({ t: 'p', tag: `t${i}`, queue: 'q', priority: 0, raw: Buffer.alloc(1000, i % 256) }));
    fs.writeFileSync(journalFile(dir), Buffer.concat(recs.map(encodeRecord)));
    const { journal, state } = await Journal.open(dir);
    assert.equal(state.messages.length, 1000);
    assert.equal(new Set(state.messages.map((m) => m.raw.buffer)).size, 1, 'all live: one shared chunk, no copies');
    await journal.close();
    fs.appendFileSync(journalFile(dir), encodeRecord({ t: 'a', tags: recs.slice(1).map((r) => (r as { tag: string }).tag) }));
    const { journal: j2, state: s2 } = await Journal.open(dir);
    assert.deepEqual(s2.messages.map((m) => m.tag), ['t0']);
    assert.ok(s2.messages[0]!.raw.equals(Buffer.alloc(1000, 0)));
    assert.ok(s2.messages[0]!.raw.buffer.byteLength < 64 * 1024, `the last live message holds ${s2.messages[0]!.raw.buffer.byteLength} bytes`);
    await j2.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

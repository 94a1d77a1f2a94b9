import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Journal, decodeRecords, encodeRecord, type JournalRecord } from '../../runtime/src/brokers/embedded/journal.js';
import type { ResultMeta } from '../../runtime/src/backends/types.js';

const tmp = () => fs.mkdtempSync(os.tmpdir() + '/sprig-test-');
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
      { t: 'p', tag: 'a', queue: 'q', priority: 0, raw: '{"x":1}' },
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
      { t: 'p', tag: 't', queue: 'q', priority: 0, raw },
    ];
    const got = decodeRecords(Buffer.concat(recs.map(encodeRecord))).records;
    assert.equal(got.length, 2);
    const r = (got[0] as { meta: { result: { n: unknown; small: unknown } } }).meta.result;
    assert.equal(r.n, 2n ** 63n - 1n, 'a BigInt, not the nearest double');
    assert.equal(r.small, 5);
    assert.equal((got[1] as { raw: string }).raw, raw, 'the message bytes, character for character');
  });

  it('replays publishes, acks, dead-letter moves, results and forgets; drops expired results', async () => {
    const dir = tmp();
    const { journal } = await Journal.open(dir);
    const later = Date.now() + 60_000;
    await journal.commit(
      [
        { t: 'p', tag: 'a', queue: 'q', priority: 0, raw: 'A' },
        { t: 'p', tag: 'b', queue: 'q', priority: 3, raw: 'B' },
        { t: 'p', tag: 'c', queue: 'q', priority: 0, raw: 'C' },
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
      state.messages.map((m) => [m.tag, m.queue, m.raw]),
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
    await journal.commit([{ t: 'p', tag: 'a', queue: 'q', priority: 0, raw: 'A' }], () => undefined);
    await journal.close();
    const file = path.join(dir, 'journal.log');
    const good = fs.statSync(file).size;
    // A crash mid-write: a header that promises more bytes than follow.
    const torn = encodeRecord({ t: 'p', tag: 'b', queue: 'q', priority: 0, raw: 'B' }).subarray(0, 12);
    fs.appendFileSync(file, torn);
    const { journal: j2, state } = await Journal.open(dir);
    assert.equal(state.truncatedBytes, 12);
    assert.equal(fs.statSync(file).size, good);
    await j2.commit([{ t: 'p', tag: 'c', queue: 'q', priority: 0, raw: 'C' }], () => undefined);
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
        journal.commit([{ t: 'p', tag: `t${i}`, queue: 'q', priority: 0, raw: 'x' }], () => order.push(i)),
      ),
    );
    assert.deepEqual(order, Array.from({ length: 50 }, (_, i) => i));
    await journal.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('compacts to a snapshot once past the threshold and mostly dead', async () => {
    const dir = tmp();
    const { journal } = await Journal.open(dir, { compactBytes: 4096 });
    const live: JournalRecord[] = [{ t: 'p', tag: 'keep', queue: 'q', priority: 0, raw: 'K' }];
    journal.setCompactor({ liveBytes: () => 1, snapshot: () => live });
    for (let i = 0; i < 100; i++) {
      await journal.commit([{ t: 'p', tag: `t${i}`, queue: 'q', priority: 0, raw: 'x'.repeat(100) }], () => undefined);
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
      const rec: JournalRecord = { t: 'p', tag: `t${i}`, queue: 'q', priority: 0, raw: 'x'.repeat(100) };
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
});

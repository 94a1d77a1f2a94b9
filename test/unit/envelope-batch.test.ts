import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTaskMessage, decodeEnvelope, encodeEnvelope, type TransportMessage } from '../../runtime/src/protocol/message.js';
import { encodeEnvelopes, envelopeColumns, type EnvelopeColumns } from '../../runtime/src/protocol/envelope-batch.js';

const queue = 'test-9b0c6a1e-batch';
const same = (ms: TransportMessage[]) => assert.deepEqual(encodeEnvelopes(ms), ms.map(encodeEnvelope));

test('a batch of one task with different ids and args encodes byte for byte as encodeEnvelope', () => {
  const ms = Array.from({ length: 50 }, (_, i) => buildTaskMessage({ name: 'app.add', queue, args: [i, 'a"b\\c\u2028'.repeat(i % 3)], kwargs: i % 2 ? { k: i } : {} }));
  same(ms);
  // ... and the decoded messages are the originals
  const back = encodeEnvelopes(ms).map(decodeEnvelope);
  back.forEach((m, i) => {
    assert.equal(m.headers.id, ms[i]!.headers.id);
    assert.equal(m.properties.delivery_tag, ms[i]!.properties.delivery_tag);
    assert.deepEqual(m.body, ms[i]!.body);
  });
});

test('messages that differ from the first anywhere else are encoded on their own, still identical', () => {
  const base = { name: 'app.add', queue };
  const ms: TransportMessage[] = [
    buildTaskMessage(base),
    buildTaskMessage({ ...base, priority: 7 }),
    buildTaskMessage({ ...base, queue: 'test-other' }),
    buildTaskMessage({ ...base, countdown: 60 }),
    buildTaskMessage({ ...base, expires: 30 }),
    buildTaskMessage({ ...base, headers: { custom: { nested: [1, { deep: true }] } } }),
    buildTaskMessage({ ...base, headers: { big: 12345678901234567890n } }),
    buildTaskMessage({ ...base, name: 'app.mul' }),
    buildTaskMessage({ ...base, rootId: 'test-root', parentId: 'test-parent', groupId: 'g', groupIndex: 3 }),
    buildTaskMessage({ ...base, timeLimit: 5, softTimeLimit: 4 }),
    buildTaskMessage({ ...base, compression: 'gzip' }),
    buildTaskMessage(base),
  ];
  const odd = buildTaskMessage(base);
  odd.headers.extra = undefined; // dropped by JSON: a different key count
  ms.push(odd);
  const reordered = buildTaskMessage(base);
  reordered.headers = Object.fromEntries(Object.entries(reordered.headers).reverse());
  ms.push(reordered);
  const rawBody = buildTaskMessage(base);
  rawBody.properties.body_encoding = 'utf-8'; // encodeEnvelope writes base64 anyway
  ms.push(rawBody);
  const nonString = buildTaskMessage(base);
  (nonString.headers as Record<string, unknown>).argsrepr = 42;
  ms.push(nonString);
  same(ms);
  // Any of them as the template of the others.
  for (let i = 0; i < ms.length; i++) same([ms[i]!, ...ms.slice(0, i), ...ms.slice(i + 1)]);
});

test('a first message the template cannot hold (a bigint, an object inside an array) falls back for the whole batch', () => {
  const a = buildTaskMessage({ name: 'app.add', queue, headers: { big: 1n } });
  const b = buildTaskMessage({ name: 'app.add', queue, headers: { list: [{ x: 1 }] } });
  const c = buildTaskMessage({ name: 'app.add', queue });
  same([a, c, c]);
  same([b, c, b]);
  same([c]);
  assert.deepEqual(encodeEnvelopes([]), []);
});

/** Envelope i from the columns, as the bulk INSERT's server-side concatenation makes it. */
const fromColumns = (c: EnvelopeColumns, i: number) => c.slots.reduce((s, col, k) => s + c.columns[col]![i]! + c.parts[k + 1]!, c.parts[0]!);

test('envelopeColumns: every envelope rebuilt from the template and its columns is encodeEnvelope of its message', () => {
  const batches: TransportMessage[][] = [
    Array.from({ length: 20 }, () => buildTaskMessage({ name: 'bench.noop', queue, ignoreResult: true })),
    Array.from({ length: 20 }, (_, i) => buildTaskMessage({ name: 'app.add', queue, args: [i, 'a"b\\c\u2028\u001e'.repeat(i % 3)], kwargs: i % 2 ? { k: i } : {} })),
    Array.from({ length: 5 }, () => buildTaskMessage({ name: 'app.add', queue, rootId: 'test-root', headers: { note: 'x\u001ey"z' } })),
  ];
  // Ids equal to the body's base64 in every message: still quoted (the body's column is never shared).
  const odd = Array.from({ length: 4 }, (_, i) => buildTaskMessage({ name: 'app.add', queue, args: [i] }));
  for (const m of odd) m.headers.id = m.headers.root_id = m.properties.correlation_id = m.body.toString('base64');
  batches.push(odd);
  for (const ms of batches) {
    const c = envelopeColumns(ms);
    assert.ok(c);
    assert.equal(c.parts.length, c.slots.length + 1);
    ms.forEach((m, i) => assert.equal(fromColumns(c, i), encodeEnvelope(m)));
    // No value or part holds a raw control character: the columns' U+001E join stays unambiguous.
    for (const v of [...c.parts, ...c.columns.flat()]) assert.ok(![...v].some((ch) => ch.charCodeAt(0) < 0x20), v);
  }
});

test('envelopeColumns: values the same in every message go into the parts, an id and its root_id and correlation_id share one column', () => {
  const ms = Array.from({ length: 10 }, () => buildTaskMessage({ name: 'bench.noop', queue, ignoreResult: true }));
  const c = envelopeColumns(ms)!;
  // id (root_id, correlation_id) and delivery_tag vary; the body, argsrepr and kwargsrepr do not.
  assert.equal(c.columns.length, 2);
  assert.deepEqual(c.slots, [0, 0, 0, 1]);
  // Plain ids go unquoted (the parts hold their quotes).
  assert.deepEqual(c.columns[0], ms.map((m) => m.headers.id));
});

test('envelopeColumns: none for one message, a message off the template, or a batch where nothing varies', () => {
  const a = buildTaskMessage({ name: 'app.add', queue });
  assert.equal(envelopeColumns([a]), undefined);
  assert.equal(envelopeColumns([a, buildTaskMessage({ name: 'app.add', queue, priority: 7 })]), undefined);
  assert.equal(envelopeColumns([a, buildTaskMessage({ name: 'app.mul', queue })]), undefined);
  assert.equal(envelopeColumns([a, a]), undefined);
  assert.equal(envelopeColumns([]), undefined);
});

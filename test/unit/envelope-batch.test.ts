import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTaskMessage, decodeEnvelope, encodeEnvelope, type TransportMessage } from '../../runtime/src/protocol/message.js';
import { encodeEnvelopes } from '../../runtime/src/protocol/envelope-batch.js';

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

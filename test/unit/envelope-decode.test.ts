// Decoding a drain's envelopes: messages that carry the same body share its bytes and its text
// (protocol/message.ts base64Body), each task still gets its own argument values, and a bad body
// is refused at decode time on that path as on any other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTaskMessage, customHeaders, decodeEnvelope, encodeEnvelope, parseTaskMessage } from '../../runtime/src/protocol/message.js';
import { ContentDisallowedError, DecodeError } from '../../runtime/src/errors.js';

const envelope = (args: unknown[], kwargs: Record<string, unknown> = {}, extra: Parameters<typeof buildTaskMessage>[0] = { name: 'add' }) =>
  encodeEnvelope(buildTaskMessage({ ...extra, args, kwargs }));

test('messages with the same body share its bytes; each task gets its own arguments', () => {
  const a = decodeEnvelope(envelope([[1, 2], { x: 1 }], { k: [3] }));
  const b = decodeEnvelope(envelope([[1, 2], { x: 1 }], { k: [3] }));
  assert.equal(a.body, b.body, 'one buffer for one body');
  const ra = parseTaskMessage(a);
  const rb = parseTaskMessage(b);
  assert.notEqual(ra.id, rb.id);
  assert.deepEqual(ra.args, [[1, 2], { x: 1 }]);
  assert.notEqual(ra.args, rb.args);
  (ra.args[0] as number[]).push(99);
  (ra.kwargs.k as number[]).push(99);
  assert.deepEqual(rb.args, [[1, 2], { x: 1 }]);
  assert.deepEqual(rb.kwargs, { k: [3] });
  // A third parse of the first message still reads its own body.
  assert.deepEqual(parseTaskMessage(b).args, [[1, 2], { x: 1 }]);
});

test('a message decoded before another body came is still parsed from its own bytes', () => {
  const a = decodeEnvelope(envelope(['first']));
  const b = decodeEnvelope(envelope(['second']));
  assert.notEqual(a.body, b.body);
  assert.deepEqual(parseTaskMessage(a).args, ['first']);
  assert.deepEqual(parseTaskMessage(b).args, ['second']);
  assert.deepEqual(parseTaskMessage(a).args, ['first']);
});

test('a body that is not JSON is refused with a reason each time, on the shared-body path too', () => {
  const good = JSON.parse(envelope([]));
  good.body = Buffer.from('[[], {}, ', 'utf8').toString('base64');
  const raw = JSON.stringify(good);
  for (let i = 0; i < 3; i++) {
    assert.throws(() => parseTaskMessage(decodeEnvelope(raw)), (err: unknown) => err instanceof DecodeError && /body does not decode as application\/json/.test(err.message));
  }
});

test('content that is not accepted is refused before decoding, whatever body came before', () => {
  const raw = envelope([1]);
  parseTaskMessage(decodeEnvelope(raw));
  assert.throws(() => parseTaskMessage(decodeEnvelope(raw), { accept: new Set(['application/x-msgpack']) }), ContentDisallowedError);
});

test('compressed bodies decode through their compressor, repeated or not', () => {
  for (let i = 0; i < 2; i++) {
    const raw = envelope(['y'.repeat(3000)], {}, { name: 'add', compression: 'gzip' });
    assert.deepEqual(parseTaskMessage(decodeEnvelope(raw)).args, ['y'.repeat(3000)]);
  }
});

test('an empty embed is one frozen object; a canvas embed is its own', () => {
  const e1 = parseTaskMessage(decodeEnvelope(envelope([]))).embed;
  const e2 = parseTaskMessage(decodeEnvelope(envelope([]))).embed;
  assert.equal(e1, e2);
  assert.ok(Object.isFrozen(e1));
  assert.deepEqual(e1, { callbacks: null, errbacks: null, chain: null, chord: null });
  const link = { task: 'next', args: [], kwargs: {}, options: {}, subtask_type: null, immutable: false };
  const withCb = parseTaskMessage(decodeEnvelope(encodeEnvelope(buildTaskMessage({ name: 'add', embed: { callbacks: [link] } })))).embed;
  assert.notEqual(withCb, e1);
  assert.equal(withCb.callbacks?.[0]?.task, 'next');
});

test('customHeaders keeps the caller\'s own headers only, a "__proto__" one as a key', () => {
  const msg = decodeEnvelope(envelope([], {}, { name: 'add', headers: { trace: 'x' } }));
  assert.deepEqual({ ...customHeaders(msg.headers) }, { trace: 'x' });
  const h = JSON.parse('{"task": "t", "id": "1", "__proto__": {"polluted": true}, "mine": 2}') as Record<string, unknown>;
  const own = customHeaders(h);
  assert.deepEqual(Object.keys(own), ['__proto__', 'mine']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf(own), Object.prototype);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { buildTaskMessage, encodeEnvelope, type BuildTaskOptions, type TransportMessage } from '../../runtime/src/protocol/message.js';
import { buildTaskMessages, type BatchCall } from '../../runtime/src/protocol/message-batch.js';
import { encodeEnvelopes } from '../../runtime/src/protocol/envelope-batch.js';
import { ProtocolError } from '../../runtime/src/errors.js';

const queue = 'test-5d1f0c52-message-batch';

/** delivery_tag is random per message: the same tag on both sides, then equal values and equal bytes (key order too). */
function assertSame(o: BuildTaskOptions, calls: BatchCall[]): TransportMessage[] {
  const got = buildTaskMessages(o, calls);
  const want = calls.map((c) => buildTaskMessage({ ...o, id: c.id, args: c.args, kwargs: c.kwargs }));
  assert.equal(got.length, want.length);
  got.forEach((m, i) => {
    assert.equal(typeof m.properties.delivery_tag, 'string');
    const tag = `tag-${i}`;
    const g = { ...m, properties: { ...m.properties, delivery_tag: tag } };
    const w = { ...want[i]!, properties: { ...want[i]!.properties, delivery_tag: tag } };
    assert.deepStrictEqual(g, w);
    assert.equal(encodeEnvelope(g), encodeEnvelope(w));
  });
  // The batch encoder (bodies shared between messages encoded once) writes the same bytes.
  assert.deepEqual(encodeEnvelopes(got), got.map(encodeEnvelope));
  return got;
}

const calls = (n: number): BatchCall[] =>
  Array.from({ length: n }, (_, i) => ({
    id: randomUUID(),
    args: i % 3 === 0 ? [] : [i, 'a"b\\c\u2028\u00e9'.repeat(i % 4), { nested: [i, null, true] }, 12345678901234567890n],
    kwargs: i % 2 ? { k: i, s: "it's" } : {},
  }));

test('a batch of one task: every message as buildTaskMessage builds it, ids, reprs and bodies its own', () => {
  const ms = assertSame({ name: 'app.add', queue }, calls(30));
  assert.equal(new Set(ms.map((m) => m.headers.id)).size, 30);
  assert.equal(new Set(ms.map((m) => m.properties.delivery_tag)).size, 30);
  for (const m of ms) {
    assert.equal(m.headers.root_id, m.headers.id);
    assert.equal(m.properties.correlation_id, m.headers.id);
  }
});

test('the options of the batch are in every message (priority, parent, group, eta, limits, headers, links, reply queue)', () => {
  assertSame(
    {
      name: 'app.add',
      queue,
      priority: 7,
      rootId: 'test-root',
      parentId: 'test-parent',
      groupId: 'test-group',
      groupIndex: 2,
      eta: new Date(Date.now() + 3_600_000),
      retries: 3,
      timeLimit: 10,
      softTimeLimit: 8,
      ignoreResult: true,
      replyTo: 'test-reply',
      exchange: 'test-exchange',
      shadow: 'test-shadow',
      headers: { custom: { nested: [1, { deep: true }] }, big: 1n },
      embed: { callbacks: [{ task: 'app.cb', args: [], kwargs: {}, options: {}, subtask_type: null, immutable: false }], chain: null },
    },
    calls(12),
  );
});

test('options that take the clock or bind headers to the body, or a header of a per-call name: each call built on its own, still the same', () => {
  for (const extra of [{ countdown: 60 }, { expires: 30 }, { compression: 'gzip', compressionThreshold: 0 }, { headers: { argsrepr: 'mine' } }, { headers: { id: 'test-fixed-id' } }] as Array<Partial<BuildTaskOptions>>) {
    const cs = calls(4);
    const got = buildTaskMessages({ name: 'app.add', queue, ...extra }, cs);
    assert.equal(got.length, 4);
    if (extra.headers) {
      // The caller's header wins, as in buildTaskMessage.
      const [k, v] = Object.entries(extra.headers)[0]!;
      for (const m of got) assert.equal(m.headers[k], v);
    }
    if (!extra.countdown && !extra.expires) assertSame({ name: 'app.add', queue, ...extra }, cs);
  }
});

test('no two messages share a mutable part; a bad call fails as buildTaskMessage does', () => {
  const ms = buildTaskMessages({ name: 'app.add', queue }, calls(3));
  (ms[0]!.headers.timelimit as unknown[])[0] = 99;
  ms[0]!.properties.delivery_info!.routing_key = 'test-changed';
  assert.deepEqual(ms[1]!.headers.timelimit, [null, null]);
  assert.equal(ms[2]!.properties.delivery_info!.routing_key, queue);
  const bad = [...calls(2), { id: randomUUID(), args: 'nope' as unknown as unknown[], kwargs: {} }];
  assert.throws(() => buildTaskMessages({ name: 'app.add', queue }, bad), ProtocolError);
  assert.throws(() => buildTaskMessages({ name: 'app.add', queue }, [...calls(2), { id: randomUUID(), args: [], kwargs: [] as unknown as Record<string, unknown> }]), ProtocolError);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomUUIDs } from '../../runtime/src/protocol/uuids.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('randomUUIDs: n version-4 UUIDs in randomUUID\'s form, all different', () => {
  const ids = randomUUIDs(5000);
  assert.equal(ids.length, 5000);
  for (const id of ids) assert.match(id, V4);
  assert.equal(new Set(ids).size, 5000);
  // Every hex digit turns up in every random position (not a constant or a short cycle).
  for (const pos of [0, 9, 15, 20, 35]) assert.equal(new Set(ids.map((id) => id[pos])).size, 16, `position ${pos}`);
});

test('randomUUIDs: two calls share nothing; 0 and 1 are fine', () => {
  const a = randomUUIDs(100);
  const b = randomUUIDs(100);
  assert.equal(new Set([...a, ...b]).size, 200);
  assert.deepEqual(randomUUIDs(0), []);
  assert.match(randomUUIDs(1)[0]!, V4);
});

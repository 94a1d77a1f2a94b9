import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRedisTarget } from '../../runtime/src/brokers/redis/connection.js';
import { CLUSTER_LAYOUT, fetchGroups, KOMBU_LAYOUT } from '../../runtime/src/brokers/redis/keys.js';
import { ConfigError } from '../../runtime/src/errors.js';

test("sentinel://: kombu's ;-separated list, master_name from the URL, password to the master", () => {
  const t = parseRedisTarget('sentinel://:s3cret@h1:26379;sentinel://h2:26380;sentinel://h3/2?master_name=mymaster&visibility_timeout=30');
  assert.equal(t.mode, 'sentinel');
  assert.deepEqual(t.endpoints, [
    { host: 'h1', port: 26379 },
    { host: 'h2', port: 26380 },
    { host: 'h3', port: 26379 },
  ]);
  assert.equal(t.options.name, 'mymaster');
  assert.equal(t.options.password, 's3cret');
  assert.equal(t.options.sentinelPassword, undefined);
  assert.equal(t.db, 2);
  assert.equal(t.options.db, 2);
  assert.equal(t.query.get('visibility_timeout'), '30');
  assert.equal(t.waitReplicas, 1);
  assert.ok(!t.displayUrl.includes('s3cret'));
});

test('sentinel://: master_name and sentinel_kwargs from broker_transport_options (kombu names)', () => {
  const t = parseRedisTarget('sentinel://127.0.0.1:26380;sentinel://127.0.0.1:26381', {
    master_name: 'other',
    sentinel_kwargs: { password: 'sp', username: 'su' },
    wait_for_replicas: 2,
  });
  assert.equal(t.options.name, 'other');
  assert.equal(t.options.sentinelPassword, 'sp');
  assert.equal(t.options.sentinelUsername, 'su');
  assert.equal(t.waitReplicas, 2);
  // The URL wins over the options, as a query parameter is the more specific setting.
  assert.equal(parseRedisTarget('sentinel://h:1?master_name=a', { master_name: 'b' }).options.name, 'a');
});

test('sentinel://: refused with a reason when master_name is missing, a part is not sentinel://, or options are bad', () => {
  assert.throws(() => parseRedisTarget('sentinel://h1:26379'), (e: Error) => e instanceof ConfigError && /master_name/.test(e.message));
  assert.throws(() => parseRedisTarget('sentinel://h1:26379;redis://h2:6379?master_name=m'), /starts with sentinel:\/\//);
  assert.throws(() => parseRedisTarget('sentinel://h1?master_name=m', { sentinel_kwargs: 'pw' }), /sentinel_kwargs must be an object/);
  assert.throws(() => parseRedisTarget('sentinel://h1?master_name=m&wait_for_replicas=-1'), /wait_for_replicas must be a number/);
});

test('redis-cluster://: seed nodes, credentials, db 0 only', () => {
  const t = parseRedisTarget('redis-cluster://u:pw@127.0.0.1:7001,127.0.0.1:7002,[::1]:7003/0?visibility_timeout=5');
  assert.equal(t.mode, 'cluster');
  assert.deepEqual(t.endpoints, [
    { host: '127.0.0.1', port: 7001 },
    { host: '127.0.0.1', port: 7002 },
    { host: '::1', port: 7003 },
  ]);
  assert.equal(t.options.username, 'u');
  assert.equal(t.options.password, 'pw');
  assert.equal(t.query.get('visibility_timeout'), '5');
  assert.equal(t.waitReplicas, 1);
  assert.throws(() => parseRedisTarget('redis-cluster://h:7001/3'), /only database 0/);
  assert.throws(() => parseRedisTarget('redis-cluster:///'), /names no cluster node/);
  assert.throws(() => parseRedisTarget('redis-cluster://h:x'), /invalid node/);
});

test('redis://: unchanged (single mode, no replica wait)', () => {
  const t = parseRedisTarget('redis://127.0.0.1:6379/3');
  assert.equal(t.mode, 'single');
  assert.equal(t.db, 3);
  assert.equal(t.waitReplicas, 0);
});

test("kombu layout keeps kombu's names; the cluster layout hash-tags every key of a queue", () => {
  const [one, ...rest] = fetchGroups(['a', 'b'], KOMBU_LAYOUT);
  assert.equal(rest.length, 0);
  assert.deepEqual(one!.keys, ['unacked', 'unacked_index', '_sprig.generated_tag', '_sprig.delayed', 'a', 'b', 'a\x06\x163', 'b\x06\x163', 'a\x06\x166', 'b\x06\x166', 'a\x06\x169', 'b\x06\x169']);
  assert.deepEqual(one!.rkArgs.slice(0, 2), ['"a"', '"b"']);
  const groups = fetchGroups(['a', 'b'], CLUSTER_LAYOUT);
  assert.equal(groups.length, 2);
  assert.deepEqual(groups[0]!.keys, ['{a}unacked', '{a}unacked_index', '{a}_sprig.generated_tag', '{a}_sprig.delayed', '{a}', '{a}\x06\x163', '{a}\x06\x166', '{a}\x06\x169']);
  assert.deepEqual(groups[1]!.order.map((o) => o.queue), ['b', 'b', 'b', 'b']);
  // Every key of a group has the same hash tag: one slot per fetch script call.
  for (const g of groups) assert.equal(new Set(g.keys.map((k) => /\{([^}]*)\}/.exec(k)?.[1])).size, 1);
});

test("keySlot is Redis Cluster's (CRC16 of the hash tag)", async () => {
  const { keySlot } = await import('../../runtime/src/brokers/redis/connection.js');
  assert.equal(keySlot('123456789'), 12739);
  assert.equal(keySlot('foo'), 12182);
  assert.equal(keySlot('{user1000}.following'), keySlot('user1000'));
  assert.equal(keySlot('{}x'), keySlot('{}x')); // an empty tag hashes the whole key
  assert.equal(keySlot('{q}unacked'), keySlot('{q}'));
});

import type { Redis } from 'ioredis';
import { decodeEnvelope, encodeEnvelope, type TransportMessage } from '../../protocol/message.js';
import type { RedisClient } from './connection.js';
import { checkLeaseName, type LeaseCommitResult, type LeaseSnapshot, type LeaseStore } from '../lease.js';
import { bindingKey, bindingMember, queueKey } from './keys.js';
import { runScript } from './scripts.js';

/** The beat lease on Redis: `_sprig.beat.<name>.lease` (a string with a PX expiry) and `_sprig.beat.<name>.state` (a hash). */
export function leaseKeys(name: string): { lease: string; state: string } {
  checkLeaseName(name);
  return { lease: `_sprig.beat.${name}.lease`, state: `_sprig.beat.${name}.state` };
}

type Cmd = <T>(p: Promise<T>, what: string) => Promise<T>;

/** Where a commit puts each message: its list key, a set key and the set's member, and the list's entry. */
type Placement = (msg: { queue: string; message: TransportMessage }) => [list: string, set: string, member: string, entry: string];

/** acquire / release / read / commit over the keys of `keysOf`, shared by one server and a cluster. */
function leaseStore(client: RedisClient, cmd: Cmd, keysOf: (name: string) => { lease: string; state: string }, place: (name: string) => Placement, afterCommit?: (name: string) => Promise<void>): LeaseStore {
  return {
    async acquire(name, holder, ttlMs) {
      const k = keysOf(name);
      return (await cmd(runScript(client, 'leaseAcquire', [k.lease], [holder, Math.max(1, Math.round(ttlMs))]), 'beat lease')) === 1;
    },
    async release(name, holder) {
      await cmd(runScript(client, 'releaseMutex', [keysOf(name).lease], [holder]), 'beat lease release');
    },
    async read(name): Promise<LeaseSnapshot> {
      const k = keysOf(name);
      const [holder, state] = await cmd(Promise.all([client.get(k.lease), client.hgetall(k.state)]), 'beat state');
      return { holder, state };
    },
    async commit(name, holder, changes, publish): Promise<LeaseCommitResult> {
      const k = keysOf(name);
      const keys = [k.lease, k.state];
      const args: Array<string | number> = [holder, changes.length];
      for (const c of changes) args.push(c.field, c.expect === null ? '0' : '1', c.expect ?? '', c.value);
      const at = place(name);
      for (const m of publish) {
        const [list, set, member, entry] = at(m);
        keys.push(list, set);
        args.push(member, entry);
      }
      const r = await cmd(runScript(client, 'leaseCommit', keys, args), 'beat commit');
      if (r !== 1) return r === 0 ? 'not-holder' : 'conflict';
      if (publish.length) await afterCommit?.(name);
      return 'ok';
    },
  };
}

/**
 * SET NX PX + compare-and-renew (lease-acquire-1.lua), compare-and-delete (kombu's release-mutex),
 * and the record-and-publish commit (lease-commit-n.lua) on the broker's own connection, with the
 * same list keys and binding sets as a publish, so a Celery worker consumes what beat sends.
 */
export function redisLeaseStore(client: Redis, cmd: Cmd): LeaseStore {
  return leaseStore(client, cmd, leaseKeys, () => ({ queue, message }) => [queueKey(queue, message.properties.priority), bindingKey(queue), bindingMember(queue), encodeEnvelope(message)]);
}

/**
 * The beat lease on a Redis Cluster: the lease, the state and an outbox share the hash tag
 * `{_sprig.beat.<name>}` (one slot), so acquire, renew and the compare-and-set commit stay one
 * script each. The queues a commit publishes to live in other slots (other masters), which no
 * script can reach: the commit records the runs and appends their messages to the outbox in one
 * step (the same lease-commit-n.lua, with the outbox as every message's list), then the holder
 * relays the outbox to the queues (a cluster publish: per queue, WAIT for a replica) and removes
 * what it sent. A holder that dies between the two leaves the messages in the outbox, and the
 * next holder relays them when it takes the lease: a run recorded is sent. A crash after the
 * publish and before its removal sends that message again (at least once; the task id is the
 * same, `beatTaskId`); on one server (leaseKeys) it is exactly once.
 */
export function clusterLeaseKeys(name: string): { lease: string; state: string; outbox: string; outboxQueues: string } {
  checkLeaseName(name);
  const tag = `{_sprig.beat.${name}}`;
  return { lease: `${tag}.lease`, state: `${tag}.state`, outbox: `${tag}.outbox`, outboxQueues: `${tag}.outbox_queues` };
}

export function clusterLeaseStore(client: RedisClient, cmd: Cmd, publish: (items: ReadonlyArray<{ queue: string; message: TransportMessage }>) => Promise<void>): LeaseStore {
  const relaying = new Map<string, Promise<void>>();
  /** Send what the outbox holds (oldest first), then remove exactly those entries. */
  const relay = (name: string): Promise<void> => {
    const running = relaying.get(name);
    if (running) return running.then(() => relay(name));
    const k = clusterLeaseKeys(name);
    const p = (async () => {
      const entries = (await cmd(client.lrange(k.outbox, 0, -1), 'beat outbox')).reverse();
      if (!entries.length) return;
      const items = entries.map((e) => {
        const [queue, raw] = JSON.parse(e) as [string, string];
        return { queue, message: decodeEnvelope(raw) };
      });
      await publish(items);
      const p = client.pipeline();
      for (const e of entries) p.lrem(k.outbox, 1, e);
      await cmd(p.exec(), 'beat outbox');
    })().finally(() => relaying.delete(name));
    relaying.set(name, p);
    return p;
  };
  const store = leaseStore(
    client,
    cmd,
    clusterLeaseKeys,
    (name) => {
      const k = clusterLeaseKeys(name);
      return ({ queue, message }) => [k.outbox, k.outboxQueues, queue, JSON.stringify([queue, encodeEnvelope(message)])];
    },
    relay,
  );
  return {
    ...store,
    async acquire(name, holder, ttlMs) {
      const got = await store.acquire(name, holder, ttlMs);
      // A holder that died between a commit and its relay left the messages in the outbox.
      if (got) await relay(name);
      return got;
    },
  };
}

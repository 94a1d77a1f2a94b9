import type { Redis } from 'ioredis';
import { encodeEnvelope } from '../../protocol/message.js';
import { checkLeaseName, type LeaseCommitResult, type LeaseSnapshot, type LeaseStore } from '../lease.js';
import { bindingKey, bindingMember, queueKey } from './keys.js';
import { runScript } from './scripts.js';

/** The beat lease on Redis: `_sprig.beat.<name>.lease` (a string with a PX expiry) and `_sprig.beat.<name>.state` (a hash). */
export function leaseKeys(name: string): { lease: string; state: string } {
  checkLeaseName(name);
  return { lease: `_sprig.beat.${name}.lease`, state: `_sprig.beat.${name}.state` };
}

/**
 * SET NX PX + compare-and-renew (lease-acquire-1.lua), compare-and-delete (kombu's release-mutex),
 * and the record-and-publish commit (lease-commit-n.lua) on the broker's own connection, with the
 * same list keys and binding sets as a publish, so a Celery worker consumes what beat sends.
 */
export function redisLeaseStore(client: Redis, cmd: <T>(p: Promise<T>, what: string) => Promise<T>): LeaseStore {
  return {
    async acquire(name, holder, ttlMs) {
      const k = leaseKeys(name);
      return (await cmd(runScript(client, 'leaseAcquire', [k.lease], [holder, Math.max(1, Math.round(ttlMs))]), 'beat lease')) === 1;
    },
    async release(name, holder) {
      await cmd(runScript(client, 'releaseMutex', [leaseKeys(name).lease], [holder]), 'beat lease release');
    },
    async read(name): Promise<LeaseSnapshot> {
      const k = leaseKeys(name);
      const [holder, state] = await cmd(Promise.all([client.get(k.lease), client.hgetall(k.state)]), 'beat state');
      return { holder, state };
    },
    async commit(name, holder, changes, publish): Promise<LeaseCommitResult> {
      const k = leaseKeys(name);
      const keys = [k.lease, k.state];
      const args: Array<string | number> = [holder, changes.length];
      for (const c of changes) args.push(c.field, c.expect === null ? '0' : '1', c.expect ?? '', c.value);
      for (const { queue, message } of publish) {
        keys.push(queueKey(queue, message.properties.priority), bindingKey(queue));
        args.push(bindingMember(queue), encodeEnvelope(message));
      }
      const r = await cmd(runScript(client, 'leaseCommit', keys, args), 'beat commit');
      return r === 1 ? 'ok' : r === 0 ? 'not-holder' : 'conflict';
    },
  };
}

import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { Hub } from '../../runtime/src/brokers/embedded/hub.js';
import { NULL_JOURNAL } from '../../runtime/src/brokers/embedded/journal.js';
import { HubLeases } from '../../runtime/src/brokers/embedded/hub-leases.js';
import type { RequestFrame } from '../../runtime/src/brokers/embedded/protocol.js';

const sink = { deliver: () => undefined, events: () => undefined, control: () => undefined, backlog: () => 0 };

describe('embedded Hub beat leases', () => {
  it('hostile lease frames are refused and change nothing', async () => {
    const hub = new Hub(NULL_JOURNAL);
    const s = hub.openSession(sink);
    const call = (f: unknown) => Promise.resolve().then(() => hub.handle(s, f as RequestFrame));
    assert.equal(await call({ op: 'leaseAcquire', name: 'beat', holder: 'A', ttlMs: 5000 }), true);
    await assert.rejects(call({ op: 'leaseAcquire', name: '../x y', holder: 'A', ttlMs: 5000 }), /lease name must be/);
    await assert.rejects(call({ op: 'leaseAcquire', name: 'beat', holder: 'B', ttlMs: -1 }), /ttlMs must be a positive number/);
    await assert.rejects(call({ op: 'leaseAcquire', name: 'beat', holder: 7, ttlMs: 5 }), /holder must be a non-empty string/);
    await assert.rejects(call({ op: 'leaseRead', name: { $ne: 1 } }), /lease name must be/);
    await assert.rejects(call({ op: 'leaseCommit', name: 'beat', holder: 'A', changes: 'x', items: [] }), /changes must be/);
    await assert.rejects(call({ op: 'leaseCommit', name: 'beat', holder: 'A', changes: [{ field: 'e', expect: 5, value: '1' }], items: [] }), /changes must be/);
    // A bad item: refused before the state changes (a run must not be recorded and not sent).
    await assert.rejects(call({ op: 'leaseCommit', name: 'beat', holder: 'A', changes: [{ field: 'e', expect: null, value: '1' }], items: [{ queue: 'q', raw: 5 }] }), /items must be/);
    assert.deepEqual(await call({ op: 'leaseRead', name: 'beat' }), { holder: 'A', state: {} });
    assert.equal(hub.queueLength('q'), 0);
    assert.equal(await call({ op: 'leaseCommit', name: 'beat', holder: 'A', changes: [{ field: 'e', expect: null, value: '1' }], items: [{ queue: 'q', priority: 0, raw: '{}' }] }), 'ok');
    assert.equal(hub.queueLength('q'), 1);
    await hub.close();
  });

  it('expiry follows the clock; the state is kept and snapshotted for the journal', () => {
    let now = 1000;
    const l = new HubLeases([{ name: 'beat', field: 'tick', value: 'v0' }], () => now);
    assert.equal(l.acquire('beat', 'A', 100), true);
    now = 1099;
    assert.equal(l.acquire('beat', 'B', 100), false);
    now = 1200; // A's lease (renewed at 1000 for 100 ms) ran out
    assert.equal(l.read('beat').holder, null);
    assert.equal(l.acquire('beat', 'B', 100), true);
    assert.equal(l.commitState('beat', 'A', [{ field: 'tick', expect: 'v0', value: 'v1' }]).result, 'not-holder');
    assert.equal(l.commitState('beat', 'B', [{ field: 'tick', expect: 'vX', value: 'v1' }]).result, 'conflict');
    assert.deepEqual(l.commitState('beat', 'B', [{ field: 'tick', expect: 'v0', value: 'v1' }]), { result: 'ok', records: [{ t: 'b', name: 'beat', field: 'tick', value: 'v1' }] });
    assert.deepEqual([...l.records()], [{ t: 'b', name: 'beat', field: 'tick', value: 'v1' }]);
  });
});

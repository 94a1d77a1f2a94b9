// The extension host's monitor model (EventHub + its ClusterState, the very classes the host runs,
// with a stub for the two vscode emitters) stays bounded at sprig.eventsBuffer tasks however many
// it sees; the events themselves leave with each batch (bench/monitor-model.ts measures its bytes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installVscodeStub } from '../vscode-host-stub.js';
import type { EventBatch, EventHub as Hub } from '../../extension/src/monitor/event-hub.js';

installVscodeStub();
const { EventHub } = require('../../extension/src/monitor/event-hub.js') as typeof import('../../extension/src/monitor/event-hub.js');

const host = 'w1@h';
function taskEvents(i: number) {
  const uuid = `task-${i}`;
  const base = { hostname: host, pid: 1, timestamp: 1000 + i, utcoffset: 0 };
  return [
    { ...base, type: 'task-received', uuid, name: 'add', args: '(2, 3)', kwargs: '{}', retries: 0, eta: null, expires: null, root_id: null, parent_id: null, clock: 3 * i },
    { ...base, type: 'task-started', uuid, clock: 3 * i + 1 },
    { ...base, type: 'task-succeeded', uuid, result: '5', runtime: 0.01, clock: 3 * i + 2 },
  ] as never;
}

/** The hub's batch timer, run by hand (it starts only with a broker connection). */
const flush = (hub: Hub) => (hub as unknown as { flush(): void }).flush();

test('the monitor model keeps at most eventsBuffer tasks, the newest, and hands every event on in batches', async () => {
  const eventsBuffer = 1000;
  const seen = 5000;
  const hub = new EventHub(() => Promise.reject(new Error('no broker in this test')), () => Promise.resolve(), eventsBuffer);
  const batches: EventBatch[] = [];
  (hub as unknown as { batchListeners: Set<(b: EventBatch) => void> }).batchListeners.add((b) => batches.push(b));
  try {
    for (let i = 0; i < seen; i++) {
      hub.inject(taskEvents(i));
      if (i % 700 === 699) flush(hub);
    }
    flush(hub);
    assert.equal(hub.state.tasks.size, eventsBuffer, 'bounded at eventsBuffer');
    assert.equal(hub.state.taskCount, seen, 'every task was seen');
    assert.equal(hub.state.tasks.has('task-0'), false, 'the oldest went first');
    assert.equal(hub.state.tasks.has(`task-${seen - eventsBuffer - 1}`), false);
    assert.equal(hub.state.tasks.get(`task-${seen - eventsBuffer}`)?.state, 'SUCCESS', 'the newest eventsBuffer are kept, whole');
    assert.equal(hub.state.tasks.get(`task-${seen - 1}`)?.state, 'SUCCESS');
    assert.equal(batches.reduce((n, b) => n + b.events.length, 0), seen * 3, 'every event went out in a batch');
    assert.ok(batches.every((b) => b.events.length <= 5000), 'in slices');
    let flushed = false;
    void hub.whenFlushed().then(() => (flushed = true));
    await Promise.resolve();
    assert.equal(flushed, true, 'nothing is left waiting in the hub');

    hub.setMaxTasks(200);
    assert.equal(hub.state.tasks.size, 200, 'a smaller eventsBuffer applies at once');
    assert.equal(hub.state.tasks.has(`task-${seen - 1}`), true);
  } finally {
    await hub.dispose();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeTasks, decodeTasks } from '../../extension/src/monitor/protocol.js';
import { ClusterState } from '../../runtime/src/events/state.js';

test('the snapshot encoding (columns, nulls dropped, strings shared) round-trips every task field', () => {
  const s = new ClusterState();
  const base = { hostname: 'w@h', pid: 1, utcoffset: 0 };
  for (let i = 0; i < 50; i++) {
    const uuid = `id-${i}`;
    s.apply({ ...base, type: 'task-received', uuid, name: i % 2 ? 'add' : 'boom', args: `(${i},)`, kwargs: '{}', retries: i % 3, eta: null, expires: null, root_id: uuid, parent_id: null, clock: i * 3, timestamp: i });
    s.apply({ ...base, type: 'task-started', uuid, clock: i * 3 + 1, timestamp: i + 0.1 });
    if (i % 2) s.apply({ ...base, type: 'task-succeeded', uuid, result: String(i + 1), runtime: 0.001 * i, clock: i * 3 + 2, timestamp: i + 0.2 });
    else s.apply({ ...base, type: 'task-failed', uuid, exception: `RangeError('${i}')`, traceback: `RangeError: ${i}\n    at fn (/x/tasks.ts:6:9)`, clock: i * 3 + 2, timestamp: i + 0.2 });
  }
  const tasks = [...s.tasks.values()];
  const wire = JSON.parse(JSON.stringify(encodeTasks(tasks)));
  const back = decodeTasks(wire);
  assert.equal(back.length, tasks.length);
  assert.deepEqual(back, tasks);
  // The field list travels with the columns (the extension does not bundle the runtime's newTask).
  assert.deepEqual(wire.fields, Object.keys(tasks[0]!));
  assert.deepEqual(decodeTasks(JSON.parse(JSON.stringify(encodeTasks([])))), []);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstUserLocation, isRuntimeFrame, taskTraceback } from '../../runtime/src/app/traceback.js';

const USER = '/home/ada/shop/tasks.ts';

test("a task's traceback: frames named after the task, the runtime's frames out (every layout), kept with verbose", () => {
  for (const rt of [
    '/home/ada/shop/node_modules/sprig-queue/dist/index.js',
    '/home/ada/.vscode/extensions/sprig-dev.sprig-0.1.0/dist/runtime/index.js',
    '/work/sprig/runtime/dist/pool-child.js',
    '/work/sprig/runtime/src/worker/trace.ts',
  ]) {
    const tb = [
      'PaymentDeclinedError: card declined',
      `    at charge (${USER}:3:9)`,
      `    at Object.fail [as fn] (${USER}:28:9)`,
      `    at callTask (${rt}:7941:62)`,
      `    at executeTask (${rt}:7955:35)`,
      '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
      '    at AsyncLocalStorage.run (node:async_hooks:346:14)',
      '    at AsyncLocalStorageContextManager.with (/home/ada/shop/node_modules/@opentelemetry/context-async-hooks/build/src/AsyncLocalStorageContextManager.js:33:40)',
    ].join('\n');
    assert.equal(taskTraceback(tb, { taskName: 'fail' }), ['PaymentDeclinedError: card declined', `    at charge (${USER}:3:9)`, `    at fail (${USER}:28:9)`].join('\n'), rt);
    const all = taskTraceback(tb, { taskName: 'fail', verbose: true });
    assert.match(all, /at callTask/);
    assert.match(all, /node:internal/);
    assert.match(all, /at fail \(/);
  }
});

test('frames of an older worker (`Object.fn`) take the task name; a user folder named like the runtime is not the runtime', () => {
  assert.equal(taskTraceback(`E: x\n    at Object.fn (${USER}:1:1)`, { taskName: 'shop.charge' }), `E: x\n    at shop.charge (${USER}:1:1)`);
  assert.equal(taskTraceback(`E: x\n    at async Object.fn (${USER}:1:1)`, { taskName: 'a' }), `E: x\n    at async a (${USER}:1:1)`);
  assert.equal(isRuntimeFrame('    at helper (/home/ada/runtime/dist/helpers.js:1:1)'), false);
  assert.equal(isRuntimeFrame('    at helper (/home/ada/shop/dist/index.js:1:1)'), false);
  assert.equal(isRuntimeFrame('Error: at node:internal'), false);
});

test("firstUserLocation: the first frame in the user's code, past the runtime, node_modules and Node", () => {
  const tb = [
    'RangeError: no',
    '    at makeRetry (/work/sprig/runtime/dist/index.js:10:1)',
    '    at lib (/home/ada/shop/node_modules/lib/index.js:3:3)',
    '    at node:internal/process/task_queues:95:5',
    `    at boom (${USER}:7:9)`,
    `    at async other (${USER}:9:1)`,
  ].join('\n');
  assert.deepEqual(firstUserLocation(tb), { file: USER, line: 7, column: 9 });
  assert.deepEqual(firstUserLocation(`E\n    at file:///home/ada/a%20b/t.mjs:2:3`), { file: '/home/ada/a b/t.mjs', line: 2, column: 3 });
  assert.deepEqual(firstUserLocation('Traceback (most recent call last):\n  File "/srv/app/tasks.py", line 12, in add\nValueError: x'), { file: '/srv/app/tasks.py', line: 12, column: 1 });
  assert.equal(firstUserLocation('Error: x\n    at <anonymous>'), undefined);
  assert.equal(firstUserLocation(null), undefined);
});

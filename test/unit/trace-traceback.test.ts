// The traceback a worker stores with a failure: the user's frames only, wherever the runtime is
// installed (the package's dist/, the extension's dist/runtime/, the sources), Node's internals and
// OpenTelemetry's context manager left out (worker/trace.ts through app/traceback.ts isRuntimeFrame).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorToInfo, executeTask, LazyAbort, type Job } from '../../runtime/src/worker/trace.js';
import { task } from '../../runtime/src/index.js';

test('a stored traceback keeps the message and the user frames, not the runtime installed anywhere', () => {
  const err = new RangeError('card declined\nsecond line of the message');
  err.stack = [
    'RangeError: card declined',
    'second line of the message',
    '    at charge (/home/u/proj/tasks.ts:12:11)',
    '    at execute (/home/u/proj/node_modules/sprig-queue/dist/index.js:4100:20)',
    '    at run (/home/u/.vscode/extensions/sprig-dev.sprig-0.1.0/dist/runtime/index.js:88:3)',
    '    at Object.fn (/repo/runtime/dist/pool-child.js:10:5)',
    '    at callTask (/repo/runtime/src/worker/trace.ts:190:40)',
    '    at AsyncLocalStorage.run (node:async_hooks:346:14)',
    '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
    '    at AsyncLocalStorageContextManager.with (/home/u/proj/node_modules/@opentelemetry/context-async-hooks/build/src/AsyncLocalStorageContextManager.js:33:40)',
    '    at helper (/home/u/proj/lib/pay.ts:3:9)',
  ].join('\n');
  const { traceback } = errorToInfo(err);
  assert.equal(
    traceback,
    ['RangeError: card declined', 'second line of the message', '    at charge (/home/u/proj/tasks.ts:12:11)', '    at helper (/home/u/proj/lib/pay.ts:3:9)'].join('\n'),
  );
});

test('a task that throws: its stored traceback starts at the user line and has no runtime frame', async () => {
  const name = `trace-test-${process.pid}`;
  task(name, () => {
    throw new TypeError('bad input');
  });
  const job: Job = { id: 'id-1', name, args: [], kwargs: {}, retries: 0, eta: null, rootId: null, parentId: null, groupId: null, headers: {}, hostname: 'h', timeLimit: null, softTimeLimit: null, expires: null };
  const out = await executeTask(job, new LazyAbort());
  assert.equal(out.state, 'FAILURE');
  const tb = (out as { traceback: string }).traceback;
  const frames = tb.split('\n').filter((l) => /^\s+at /.test(l));
  assert.match(tb, /^TypeError: bad input/);
  assert.ok(frames.length >= 1, tb);
  assert.match(frames[0]!, /trace-traceback\.test\.ts:\d+/);
  assert.ok(!frames.some((l) => /runtime[/\\]src[/\\]|node:internal|node:async_hooks/.test(l)), tb);
});

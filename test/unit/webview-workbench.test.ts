import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { ViewState } from '../../webview-ui/src/view-state.js';
import { timelineRows, CHILDREN_SHOWN } from '../../webview-ui/src/timeline.js';
import { newTask } from '../../runtime/src/events/state.js';
import { parseEditedCall, editText } from '../../extension/src/tasks/edit-args.js';
import { isRetryMany, RETRY_MANY_MAX } from '../../extension/src/monitor/protocol.js';

let clock = 0;
const ev = (type: string, hostname: string, extra: Record<string, unknown>) => ({ type, hostname, pid: 1, clock: ++clock, timestamp: 1000 + clock, utcoffset: 0, ...extra }) as unknown as SprigEvent;
const recv = (uuid: string, name: string, host: string, extra: Record<string, unknown> = {}) => ev('task-received', host, { uuid, name, args: "('card', 1)", kwargs: '{}', retries: 0, eta: null, expires: null, root_id: null, parent_id: null, ...extra });
const online = (host: string) => ev('worker-online', host, { freq: 2, active: 0, processed: 0, loadavg: [0.1], sw_ident: 'sprig', sw_ver: '0', sw_sys: 'Linux' });

function view() {
  const v = new ViewState(() => undefined);
  v.applyEvents([
    online('w1@h'),
    online('w2@h'),
    recv('t1', 'billing.charge', 'w1@h'),
    ev('task-failed', 'w1@h', { uuid: 't1', exception: 'CardDeclined()', traceback: '' }),
    recv('t2', 'billing.charge', 'w2@h', { args: "('cash', 2)" }),
    ev('task-failed', 'w2@h', { uuid: 't2', exception: 'CardDeclined()', traceback: '' }),
    recv('t3', 'add', 'w1@h', { parent_id: 't1', root_id: 't1' }),
  ]);
  v.start();
  v.beginFrame(2000);
  return v;
}
const taskKeys = (v: ViewState) => v.rows.filter((r) => r.kind === 'task').map((r) => r.key);

test('the search box: a query filters the rows, hides workers with none, and the FAILUREs it shows are what Retry all sends', () => {
  const v = view();
  v.setQuery('name:charge state:FAILURE args:"card"');
  v.beginFrame(2000);
  assert.deepEqual(taskKeys(v), ['t:t1']);
  assert.deepEqual(v.rows.filter((r) => r.kind === 'worker').map((r) => r.key), ['w:w1@h'], 'w2 has no match: not listed');
  assert.deepEqual(v.matchingTaskIds('FAILURE'), ['t1']);
  v.setQuery('state:FAILURE');
  assert.deepEqual(v.matchingTaskIds('FAILURE'), ['t2', 't1']);
  v.setQuery('name:nothing-like-this');
  v.beginFrame(2000);
  assert.equal(v.rows.length, 0, 'an empty result: no rows (the list says so)');
});

test('a query that does not parse keeps the last good one and says why', () => {
  const v = view();
  v.setQuery('name:add');
  v.setQuery('state:FAILED');
  assert.match(v.queryError, /unknown state "FAILED".*\(at character 1\)/);
  v.beginFrame(2000);
  assert.deepEqual(taskKeys(v), ['t:t3'], 'still name:add');
  v.setQuery('');
  assert.equal(v.queryError, '');
  v.beginFrame(2000);
  assert.equal(taskKeys(v).length, 3);
});

test('timeline rows: each attempt with worker, pid, wait and run, the reason; progress; root and children linked', () => {
  const t = {
    ...newTask('x'),
    name: 'flaky',
    state: 'SUCCESS' as const,
    retries: 1,
    sent: 100,
    worker: 'w2@h',
    pid: 43,
    received: 110,
    started: 111,
    succeeded: 113,
    rootId: 'root-id',
    parentId: 'p',
    attempts: [{ retries: 0, worker: 'w1@h', pid: 42, received: 101, started: 102, retried: 105, reason: 'Timeout("slow")' }],
    progress: { state: 'PROGRESS', done: 3, total: 4, meta: null, timestamp: 112 },
  };
  const kids = Array.from({ length: CHILDREN_SHOWN + 2 }, (_, i) => `c${i}`);
  const rows = timelineRows(t, kids);
  const by = (label: string) => rows.find((r) => r.label === label)?.value ?? '';
  assert.match(by('sent'), /^\d\d:\d\d:\d\d\.\d{3}$/);
  assert.match(by('attempt 1'), /^w1@h pid 42 · received .* · started .* · waited 2\.00 s · retried .* after 3\.00 s · Timeout\("slow"\)$/);
  assert.match(by('attempt 2'), /^w2@h pid 43 · received .* · started .* · succeeded .* after 2\.00 s$/);
  assert.match(by('progress'), /^PROGRESS 75% \(3\/4\)/);
  assert.deepEqual(rows.find((r) => r.label === 'root'), { label: 'root', value: 'root-id', linkTask: 'root-id' });
  const children = rows.filter((r) => r.linkTask?.startsWith('c'));
  assert.equal(children.length, CHILDREN_SHOWN);
  assert.equal(rows.find((r) => r.label.startsWith('children'))?.label, `children (${CHILDREN_SHOWN + 2})`);
  assert.match(rows.at(-1)!.value, /2 more/);
});

test('Edit and run: the JSON box accepts {args, kwargs} and says what is wrong otherwise', () => {
  assert.deepEqual(parseEditedCall('{"args": [1, "a"], "kwargs": {"k": null}}'), { args: [1, 'a'], kwargs: { k: null } });
  assert.deepEqual(parseEditedCall('{}'), { args: [], kwargs: {} });
  assert.match(parseEditedCall('{"args": 5}') as string, /"args" must be an array/);
  assert.match(parseEditedCall('{"kwargs": []}') as string, /"kwargs" must be an object/);
  assert.match(parseEditedCall('[1]') as string, /expected an object/);
  assert.match(parseEditedCall('{"args": [], "queue": "x"}') as string, /unexpected key "queue"/);
  assert.match(parseEditedCall('{"args": [9007199254740993]}') as string, /past 2\*\*53/);
  assert.match(parseEditedCall('{"args": [') as string, /^not JSON/);
  assert.equal(editText({ args: [1], kwargs: { a: 'b' } }), '{"args":[1],"kwargs":{"a":"b"}}');
});

test('the retryMany request guard checks every id', () => {
  assert.equal(isRetryMany({ method: 'retryMany', id: 1, params: { taskIds: ['a', 'b'] } }), true);
  assert.equal(isRetryMany({ method: 'retryMany', id: 1, params: { taskIds: ['a', 2] } }), false);
  assert.equal(isRetryMany({ method: 'retryMany', id: 1, params: { taskIds: 'a' } }), false);
  assert.equal(isRetryMany({ method: 'retryMany', id: 1, params: { taskIds: new Array(RETRY_MANY_MAX + 1).fill('x') } }), false);
});

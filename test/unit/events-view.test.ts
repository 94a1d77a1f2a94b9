// The interactive `sprig events` screen (cli/events-view.ts), driven by keys without a terminal:
// 80 columns, the task named on every line, short ids, colours by state, task-sent before
// task-received, select → details and traceback, revoke/terminate asked first, the workers panel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { insertInLifeOrder, LiveView, splitKeys, visibleLength } from '../../runtime/src/cli/events-view.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';

// eslint-disable-next-line no-control-regex
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
const T = 1_000_000;
const base = { pid: 1, clock: 1, utcoffset: 0 };
const status = { freq: 2, active: 1, processed: 7, loadavg: [0.1], sw_ident: 'sprig', sw_ver: '0', sw_sys: 'Linux' };
const ID1 = '0f1e2d3c-aaaa-bbbb-cccc-111111111111';
const ID2 = '9a8b7c6d-aaaa-bbbb-cccc-222222222222';
const ev = (type: string, extra: Record<string, unknown>, at = T, hostname = 'sprig1234@worker-host') => ({ ...base, type, hostname, timestamp: at, local_received: at, ...extra }) as SprigEvent;
const received = (uuid: string, name: string, at: number) => ev('task-received', { uuid, name, args: '(1, 2)', kwargs: '{}', retries: 0, eta: null, expires: null, root_id: null, parent_id: null }, at);
const sent = (uuid: string, name: string, at: number) =>
  ev('task-sent', { uuid, name, args: '(1, 2)', kwargs: '{}', retries: 0, eta: null, expires: null, queue: 'celery', exchange: '', routing_key: 'celery', root_id: null, parent_id: null }, at, 'client@laptop');

function view(): LiveView {
  const v = new LiveView('redis://127.0.0.1:6379/0');
  v.add(ev('worker-online', status, T));
  v.add(received(ID1, 'payments.charge_card_with_a_long_name', T + 1));
  // The client's task-sent arrives after the worker's task-received (another connection).
  v.add(sent(ID1, 'payments.charge_card_with_a_long_name', T + 0.5));
  v.add(ev('task-started', { uuid: ID1 }, T + 1.1));
  v.add(ev('task-failed', { uuid: ID1, exception: "RangeError('card declined')", traceback: 'RangeError: card declined\n    at charge (/ws/tasks.ts:7:9)' }, T + 1.2));
  v.add(received(ID2, 'add', T + 2));
  v.add(ev('task-started', { uuid: ID2 }, T + 2.1));
  return v;
}

test('80 columns: every line fits, every event line names its task, ids are short, colours by state', () => {
  const v = view();
  const lines = v.frame(80, 24, T + 3);
  assert.equal(lines.length, 24);
  for (const l of lines) assert.ok(visibleLength(l) <= 80, `${visibleLength(l)}: ${plain(l)}`);
  const text = lines.map(plain).join('\n');
  assert.ok(!text.includes(ID1) && !text.includes(ID2), 'full ids do not fit 80 columns');
  assert.match(text, /started\s+add\[9a8b7c6d\]/, 'task-started carries no name: it comes from the state');
  assert.match(text, /failed\s+payments\.charge_card_with_a_long_name\[0f1e2d3c\] RangeError/);
  assert.match(text, /online\s+sprig1234@worker-host\s+active 1\s+processed 7/);
  assert.match(text, /FAILURE 1 {2}STARTED 1|STARTED 1 {2}FAILURE 1/);
  // Task lines: state coloured (red for the failure, blue while it runs), and how long it runs.
  const failLine = lines.find((l) => plain(l).includes('FAILURE') && plain(l).includes('0f1e2d3c'))!;
  assert.match(failLine, /\x1b\[31m/); // eslint-disable-line no-control-regex
  assert.match(plain(lines.find((l) => plain(l).includes('STARTED ') && plain(l).includes('9a8b7c6d'))!), /running 1s/);
  // task-sent before task-received in the tail, though it arrived after.
  const sentAt = lines.findIndex((l) => /sent\s+payments/.test(plain(l)));
  const recvAt = lines.findIndex((l) => /received\s+payments/.test(plain(l)));
  assert.ok(sentAt > 0 && recvAt > sentAt, `sent at ${sentAt}, received at ${recvAt}`);
});

test('keys: select a task, its details and traceback, back; revoke and terminate are asked first', () => {
  const v = view();
  assert.deepEqual(splitKeys('\x1b[A\x1b[Bjr\ry'), ['\x1b[A', '\x1b[B', 'j', 'r', '\r', 'y']);
  assert.equal(v.key('r'), undefined);
  assert.match(v.note, /select a task first/);
  v.key('\x1b[B'); // the first key selects the newest task
  assert.equal(v.selected, ID2);
  v.key('\x1b[A');
  assert.equal(v.selected, ID1);
  const sel = v.frame(80, 24, T + 3).find((l) => plain(l).startsWith('> '));
  assert.ok(sel && plain(sel).includes('0f1e2d3c'), 'the selected task has the cursor');
  v.key('\r');
  assert.equal(v.screenName, 'detail');
  const detail = v.frame(80, 24, T + 3).map(plain).join('\n');
  assert.match(detail, new RegExp(`id\\s+${ID1}`));
  assert.match(detail, /exception\s+RangeError\('card declined'\)/);
  assert.match(detail, /Traceback\n\s*RangeError: card declined\n\s+at charge \(\/ws\/tasks\.ts:7:9\)/);
  // Revoke from the details: asked, then the action.
  assert.equal(v.key('r'), undefined);
  assert.match(plain(v.frame(80, 24).join('\n')), /Revoke payments\.charge_card_with_a_long_name\[0f1e2d3c\]\? y\/n/);
  assert.deepEqual(v.key('y'), { type: 'revoke', taskId: ID1, name: 'payments.charge_card_with_a_long_name', terminate: false });
  // Terminate, declined.
  v.key('t');
  assert.match(plain(v.frame(80, 24).join('\n')), /Terminate \(SIGTERM\) payments/);
  assert.equal(v.key('n'), undefined);
  assert.equal(v.note, 'cancelled');
  v.key('\x1b[D');
  assert.equal(v.screenName, 'list');
  v.key('t');
  assert.deepEqual(v.key('y'), { type: 'revoke', taskId: ID1, name: 'payments.charge_card_with_a_long_name', terminate: true });
  // The workers panel folds away.
  v.key('w');
  const folded = v.frame(80, 24, T + 3).map(plain).join('\n');
  assert.match(folded, /Workers \(1\/1 online\) {2}w: show/);
  assert.doesNotMatch(folded, /processed 7/);
  assert.deepEqual(v.key('q'), { type: 'quit' });
});

test('task-sent goes before a later event of its task, other events stay in arrival order', () => {
  const list: SprigEvent[] = [];
  const a = received('a', 'add', T);
  const b = received('b', 'add', T);
  const aStarted = ev('task-started', { uuid: 'a' }, T);
  insertInLifeOrder(list, a);
  insertInLifeOrder(list, b);
  insertInLifeOrder(list, aStarted);
  insertInLifeOrder(list, sent('a', 'add', T));
  insertInLifeOrder(list, sent('b', 'add', T));
  assert.deepEqual(list.map((e) => `${e.type}:${(e as { uuid: string }).uuid}`), ['task-sent:a', 'task-received:a', 'task-sent:b', 'task-received:b', 'task-started:a']);
});

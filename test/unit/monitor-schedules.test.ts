import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBeatList } from '../../extension/src/monitor/schedule-requests.js';
import { runText } from '../../webview-ui/src/format.js';

test('parseBeatList: the rows of sprig beat --list --json, checked; a malformed entry or no JSON is an error naming it', () => {
  const row = { name: 'tick', task: 'add', schedule: 'every 1s', nextRunAt: '2026-12-01T12:00:05.000Z', lastRunAt: null, args: [1, 2], kwargs: {}, options: { queue: 'q' } };
  assert.deepEqual(parseBeatList(`warn: something\n${JSON.stringify([row])}\n`), [row]);
  assert.deepEqual(parseBeatList('[]'), []);
  // Missing args/kwargs/options read as empty; a bad shape is refused.
  assert.deepEqual(parseBeatList(JSON.stringify([{ ...row, args: 'x', kwargs: [], options: null }]))[0]!.args, []);
  assert.throws(() => parseBeatList(JSON.stringify([{ ...row, nextRunAt: 5 }])), /entry 0 is not \{name, task, schedule, nextRunAt, lastRunAt\}/);
  assert.throws(() => parseBeatList(JSON.stringify({ a: 1 })), /no array/);
  assert.throws(() => parseBeatList(''), /printed no JSON: \(nothing\)/);
});

test('runText: a next run in the future says "in", a last run "ago", none the placeholder', () => {
  const now = Date.parse('2026-12-01T12:00:00.000Z');
  assert.match(runText('2026-12-01T12:00:05.000Z', now), /^\d\d:\d\d:05 \(in 5 s\)$/);
  assert.match(runText('2026-12-01T11:59:58.000Z', now), /^\d\d:\d\d:58 \(2 s ago\)$/);
  assert.match(runText('2026-12-01T12:00:00.300Z', now), /\(now\)$/);
  assert.equal(runText(null, now), '–');
  assert.equal(runText(null, now, 'never'), 'never');
  assert.equal(runText('not a time', now), '–');
});

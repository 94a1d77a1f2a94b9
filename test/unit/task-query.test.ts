import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isEmptyQuery, matchesQuery, parseTaskQuery, QUERY_MAX_LENGTH, type TaskQuery } from '../../runtime/src/events/query.js';
import { newTask, type TaskInfo } from '../../runtime/src/events/state.js';

function q(text: string): TaskQuery {
  const r = parseTaskQuery(text);
  if (!r.ok) throw new Error(`did not parse: ${r.error}`);
  return r.query;
}
function t(over: Partial<TaskInfo>): TaskInfo {
  return { ...newTask(over.uuid ?? 'a1b2c3d4-0000-4000-8000-000000000000'), ...over };
}

const charge = t({ name: 'billing.charge', state: 'FAILURE', worker: 'w1@host', args: "('card', 42)", kwargs: "{'currency': 'EUR'}", exception: 'CardDeclined("no funds")' });
const chargeOk = t({ uuid: 'ffff0000-0000-4000-8000-000000000000', name: 'billing.charge', state: 'SUCCESS', worker: 'w2@host', args: "('cash', 1)", result: "'ok receipt'" });
const retrying = t({ name: 'billing.charge', state: 'RETRY', worker: 'w1@host', args: "('card', 7)" });

test("Flower's example: name, several states, worker, a quoted args value", () => {
  const query = q('name:charge state:FAILURE,RETRY worker:w1 args:"card"');
  assert.deepEqual([...query.states], ['FAILURE', 'RETRY']);
  assert.equal(matchesQuery(charge, query), true);
  assert.equal(matchesQuery(retrying, query), true);
  assert.equal(matchesQuery(chargeOk, query), false);
});

test('result:, free text over name/id/args/result/exception, negation, case, aliases', () => {
  assert.equal(matchesQuery(chargeOk, q('result:receipt')), true);
  assert.equal(matchesQuery(charge, q('result:receipt')), false, 'a failure has no result');
  assert.equal(matchesQuery(charge, q('funds')), true, 'free text finds the exception');
  assert.equal(matchesQuery(chargeOk, q('FFFF0000')), true, 'free text finds the id, any case');
  assert.equal(matchesQuery(chargeOk, q('-state:SUCCESS')), false);
  assert.equal(matchesQuery(charge, q('-worker:w2 kwargs:eur')), true);
  assert.equal(matchesQuery(charge, q('status:failure host:w1 uuid:a1b2')), true);
  assert.equal(matchesQuery(charge, q('args:"card\', 42"')), true, 'a quoted value keeps its spaces and quotes');
  assert.equal(matchesQuery(charge, q('"no funds"')), true);
  assert.equal(matchesQuery(charge, q('args:"a \\"b\\""')), false);
  const quoted = t({ name: 'charge', args: `('card "1" O\\'Brien',)` });
  assert.equal(matchesQuery(quoted, q(`args:"O'Brien"`)), true, "found as typed, not only as the repr's O\\'Brien");
  assert.equal(isEmptyQuery(q('   ')), true);
  assert.equal(isEmptyQuery(q('""')), true);
});

test('hostile input: a clear message and where, never a throw', () => {
  const bad: Array<[unknown, RegExp]> = [
    ['state:FAILED', /unknown state "FAILED" — use PENDING, RECEIVED/],
    ['colour:red', /unknown field "colour:" — use one of name: state:/],
    ['args:"card', /not closed: add a " at the end/],
    ['name:', /"name:" needs a value, e\.g\. name:abc/],
    ['ar"gs', /a quote inside a word/],
    ['x'.repeat(QUERY_MAX_LENGTH + 1), /at most 2000/],
    [Array.from({ length: 40 }, (_, i) => `w${i}`).join(' '), /at most 32 terms/],
    [42, /must be text/],
    [null, /must be text/],
  ];
  for (const [input, re] of bad) {
    const r = parseTaskQuery(input);
    assert.equal(r.ok, false, String(input).slice(0, 40));
    if (!r.ok) {
      assert.match(r.error, re);
      assert.ok(r.at >= 0);
    }
  }
  // Odd but valid: control characters and unicode are just text.
  for (const s of ['\u0000', 'name:\u{1F600}', '-', '- -', '::', 'a:b:c'.replace('a:', 'name:'), '\\"']) assert.doesNotThrow(() => parseTaskQuery(s));
});

// The repr reader Retry falls back on: what Sprig's pyrepr and Python's repr write reads back exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pyrepr, pyreprArgs } from '../../runtime/src/protocol/pyrepr.js';
import { inexactForJson, LiteralError, parseArgsRepr, parseKwargsRepr, parsePyLiteral } from '../../extension/src/tasks/pyliteral.js';

test("Sprig's reprs read back to the same values", () => {
  const values: unknown[][] = [
    [],
    [2, 3],
    ['a'],
    ["it's", 'quote"d', 'back\\slash', 'new\nline', 'tab\there', '\u{1F600}', 'é'],
    [0.1, -2.5e-7, 1e21, 9007199254740991],
    [null, true, false, [1, [2, [3]]], { a: { b: [true, null] } }],
  ];
  for (const args of values) assert.deepEqual(parseArgsRepr(pyreprArgs(args)), args, pyreprArgs(args));
  const kwargs = { name: 'Ada', n: 3, nested: { list: [1, 'two'] } };
  assert.deepEqual(parseKwargsRepr(pyrepr(kwargs)), kwargs);
});

test("Python's repr forms: escapes (\\x, \\u, \\U, one-letter), inf/nan, tuples, double quotes", () => {
  // Written by CPython 3.11's repr() for these values.
  assert.deepEqual(parsePyLiteral(String.raw`('\x00\x07\x1b', '\u200b', '\U000e0001', "it's", '\\', '\t\r\n')`), ['\x00\x07\x1b', '\u200b', '\u{e0001}', "it's", '\\', '\t\r\n']);
  assert.deepEqual(parsePyLiteral('(inf, -inf, 1.5)'), [Infinity, -Infinity, 1.5]);
  assert.ok(Number.isNaN((parsePyLiteral('[nan]') as number[])[0]));
  assert.deepEqual(parsePyLiteral("{'x': (1,), 'y': []}"), { x: [1], y: [] });
});

test('what cannot be read back exactly is refused, not guessed', () => {
  assert.throws(() => parseArgsRepr("('" + 'y'.repeat(1100) + "...'"), LiteralError);
  assert.throws(() => parseArgsRepr(pyreprArgs(['y'.repeat(2000)])), /truncated/);
  assert.throws(() => parsePyLiteral(String.raw`('\U0001F6')`), /bad \\U escape/);
  assert.throws(() => parsePyLiteral("(b'bytes',)"), LiteralError);
  assert.equal(inexactForJson([1, 'a', { b: [2.5] }]), undefined);
  assert.equal(inexactForJson([1, { b: [Infinity] }]), 'args[1].b[0] = Infinity');
  assert.equal(inexactForJson({ n: 2 ** 63 }, 'kwargs'), `kwargs.n = ${2 ** 63}`);
  assert.equal(inexactForJson([NaN]), 'args[0] = NaN');
});

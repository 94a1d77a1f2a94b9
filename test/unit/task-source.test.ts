import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findTaskDefinitions } from '../../extension/src/tasks/task-source.js';

const params = (text: string) => Object.fromEntries(findTaskDefinitions(text).map((d) => [d.name, d.params]));

test("a task's parameters as written: arrows, async, function expressions; a bound task's context left out", () => {
  const examples = fs.readFileSync(path.join(__dirname, '..', '..', 'runtime', 'examples', 'tasks.ts'), 'utf8');
  assert.deepEqual(params(examples), {
    add: ['a: number', 'b: number'],
    mul: ['a: number', 'b: number'],
    greet: ['name: string', 'opts?: { greeting?: string }'],
    flaky: ['failTimes: number'],
    fail: ['reason: string'],
    fetchQuote: ['symbol: string'],
    sleep: ['seconds: number'],
  });
  const more = [
    "import { task } from 'sprig';",
    "task('one', x => x);",
    "task('fn', async function named(a: Map<string, number>, cb: (e: Error, v?: number) => void = () => {}) { return a; });",
    "task('ref', handler);",
    "task('none', () => 1);",
    "task('text', (s = 'a, b', n: number) => s);",
  ].join('\n');
  assert.deepEqual(params(more), {
    one: ['x'],
    fn: ['a: Map<string, number>', 'cb: (e: Error, v?: number) => void = () => {}'],
    ref: undefined,
    none: [],
    text: ["s = 'a, b'", 'n: number'],
  });
});

/**
 * The canvas without a broker: Celery's signature dict layout, types that flow from step to step
 * (compile errors proved with @ts-expect-error: this file is typechecked by `npm run typecheck`),
 * embeds checked at parse time, and the in-memory chord join's rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { App, chain, chord, group, task, ProtocolError, buildTaskMessage, parseTaskMessage } from '../../runtime/src/index.js';
import { ChordStore } from '../../runtime/src/backends/chord-store.js';
import { parseSignature } from '../../runtime/src/protocol/signature.js';

const app = new App({ brokerUrl: 'memory://' });
const add = app.task('u.add', (a: number, b: number) => a + b);
const toStr = app.task('u.str', (n: number) => String(n));
const len = app.task('u.len', (s: string) => s.length);
const tsum = app.task('u.tsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
void task;

test("a signature is Celery's dict: task, args, kwargs, options, subtask_type, immutable", () => {
  assert.deepEqual(add.s(2, 2).set({ queue: 'q', countdown: 5 }).toDict(), {
    task: 'u.add',
    args: [2, 2],
    kwargs: {},
    options: { queue: 'q', countdown: 5 },
    subtask_type: null,
    immutable: false,
  });
  assert.equal(add.si(1, 1).toDict().immutable, true);
  const c = chain(add.s(1, 1), add.s(2)).toDict();
  assert.equal(c.task, 'celery.chain');
  assert.equal(c.subtask_type, 'chain');
  assert.deepEqual((c.kwargs.tasks as Array<{ task: string }>).map((t) => t.task), ['u.add', 'u.add']);
  const ch = chord([add.s(1, 1)], tsum.s()).toDict();
  assert.equal(ch.task, 'celery.chord');
  assert.deepEqual(Object.keys(ch.kwargs), ['kwargs', 'header', 'body']);
  assert.equal((ch.kwargs.header as { task: string }).task, 'celery.group');
  // Linked callbacks are signature dicts in the options, as Celery's link() puts them.
  const linked = add.s(1, 1).link(toStr.s()).toDict();
  assert.deepEqual((linked.options.link as Array<{ task: string }>).map((l) => l.task), ['u.str']);
});

test('types flow: the result of a step is the first argument of the next', () => {
  // number -> string -> number: fits.
  const fits = chain(add.s(1, 2), toStr.s(), len.s());
  type Out = Awaited<ReturnType<ReturnType<typeof fits.applyAsync>['get']>>;
  assert.equal(fits.toDict().subtask_type, 'chain');
  const out: Out = 3;
  // @ts-expect-error the chain gives a number, not a string
  const wrong: Out = 'x';
  void out;
  void wrong;
  // @ts-expect-error u.len takes a string, add gives a number
  chain(add.s(1, 2), len.s());
  // @ts-expect-error a signature with all its arguments cannot take the previous result
  chain(add.s(1, 2), add.s(3, 4));
  // ...unless it is immutable.
  chain(add.s(1, 2), add.si(3, 4));
  // @ts-expect-error pipe checks the same way
  add.s(1, 2).pipe(len.s());
  // A chord's body takes the header's results as a list.
  chord([add.s(1, 1), add.s(2, 2)], tsum.s());
  // @ts-expect-error the body of a chord of numbers cannot take strings
  chord([add.s(1, 1)], len.s());
  // A group's result is a list: a chain through a group feeds a list to the next step.
  chain(add.s(1, 1), group([add.s(1), add.s(2)]), tsum.s());
  // @ts-expect-error missing arguments of a task are still checked
  add.s('x');
});

test('a malformed signature in an embed is refused at parse time, with where and what', () => {
  const good = buildTaskMessage({ name: 'u.add', args: [1, 2], embed: { chain: [add.s(3).toDict()] } });
  assert.equal(parseTaskMessage(good).embed.chain?.[0]?.task, 'u.add');
  const cases: Array<[unknown, RegExp]> = [
    [{ chain: [{ args: [] }] }, /embed\.chain\[0\]\.task/],
    [{ callbacks: [{ task: 'x', args: 'nope' }] }, /embed\.callbacks\[0\]\.args/],
    [{ chord: { task: 'x', options: { task_id: 5 } } }, /embed\.chord\.options\.task_id/],
    [{ chain: [{ task: 'celery.group', subtask_type: 'group', kwargs: {} }] }, /kwargs\.tasks/],
    [{ errbacks: {} }, /embed\.errbacks/],
    [{ chain: [{ task: 'x', subtask_type: 'weird' }] }, /subtask_type/],
  ];
  for (const [embed, re] of cases) {
    const m = buildTaskMessage({ name: 'u.add', args: [1, 2] });
    m.body = Buffer.from(JSON.stringify([[1, 2], {}, embed]));
    assert.throws(() => parseTaskMessage(m), (e: unknown) => e instanceof ProtocolError && re.test((e as Error).message), JSON.stringify(embed));
  }
  assert.throws(() => parseSignature({ task: 'x', options: { link: [{ nope: 1 }] } }), /options\.link\[0\]\.task/);
});

test('the in-memory chord join: each part once, in header order, the completing part alone fires (and again only it)', () => {
  const j = new ChordStore();
  j.setSize('g', 3);
  assert.equal(j.partReturn({ groupId: 'g', taskId: 'b', groupIndex: 1, state: 'SUCCESS', result: 'B' }), null);
  // A redelivered part counts once.
  assert.equal(j.partReturn({ groupId: 'g', taskId: 'b', groupIndex: 1, state: 'SUCCESS', result: 'B2' }), null);
  assert.equal(j.partReturn({ groupId: 'g', taskId: 'c', groupIndex: 2, state: 'SUCCESS', result: 'C' }), null);
  const all = j.partReturn({ groupId: 'g', taskId: 'a', groupIndex: 0, state: 'SUCCESS', result: 'A' });
  assert.deepEqual(all?.map((e) => e.result), ['A', 'B', 'C']);
  // Another part redelivered now does not fire it again; the part that completed it does (it died before finishing).
  assert.equal(j.partReturn({ groupId: 'g', taskId: 'c', groupIndex: 2, state: 'SUCCESS', result: 'C' }), null);
  assert.ok(j.partReturn({ groupId: 'g', taskId: 'a', groupIndex: 0, state: 'SUCCESS', result: 'A' }));
  j.done('g');
  assert.deepEqual(j.size, { joins: 0, finished: 1 });
  // After done(), a late redelivery (the completing part or another) is not counted and opens no join.
  assert.equal(j.partReturn({ groupId: 'g', taskId: 'a', groupIndex: 0, state: 'SUCCESS', result: 'A' }), null);
  assert.equal(j.partReturn({ groupId: 'g', taskId: 'c', groupIndex: 2, state: 'SUCCESS', result: 'C' }), null);
  assert.deepEqual(j.size, { joins: 0, finished: 1 });
  // The mark goes a day later.
  j.sweep(Date.now() + 86_400_001);
  assert.deepEqual(j.size, { joins: 0, finished: 0 });
});

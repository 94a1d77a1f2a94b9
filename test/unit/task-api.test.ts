// The task API's checks, without a broker: ctx.replace / ctx.addToChord as a task sees them (the
// outcome the worker gets), declared Python exceptions and what a bad declaration says, stored
// failures read back from a hostile backend, celery.accumulate, and the Hub's join growing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { errorToInfo, executeTask, LazyAbort, type Job } from '../../runtime/src/worker/trace.js';
import { chain, ConfigError, pythonException, task, TaskError } from '../../runtime/src/index.js';
import { parseExceptionInfo } from '../../runtime/src/backends/types.js';
import { ChordStore } from '../../runtime/src/backends/chord-store.js';
import { getTask } from '../../runtime/src/app/registry.js';
import type { SignatureDict } from '../../runtime/src/protocol/signature.js';

function job(name: string, extra: Partial<Job> = {}): Job {
  return { id: randomUUID(), name, args: [], kwargs: {}, retries: 0, eta: null, rootId: null, parentId: null, groupId: null, headers: {}, hostname: 'h', timeLimit: null, softTimeLimit: null, expires: null, ...extra };
}
const unique = (s: string) => `${s}-${randomUUID()}`;
const add = task(unique('add'), (a: number, b: number) => a + b);

test('ctx.replace ends the task with REPLACED and the signature; a chord-bound or empty replacement fails it', async () => {
  const name = unique('replacer');
  const emptyChain: SignatureDict = { task: 'celery.chain', args: [], kwargs: { tasks: [] }, options: {}, subtask_type: 'chain', immutable: false };
  const chordBound: SignatureDict = { ...add.s(1, 1).toDict(), options: { chord: add.s(0).toDict() } };
  task(name, (ctx, kind: string) => ctx.replace(kind === 'chain' ? chain(add.s(1, 1), add.s(2)) : kind === 'chord' ? chordBound : emptyChain), { bind: true });
  const ok = await executeTask(job(name, { args: ['chain'] }), new LazyAbort());
  assert.equal(ok.state, 'REPLACED');
  assert.equal((ok as { sig: SignatureDict }).sig.subtask_type, 'chain');
  const inChord = await executeTask(job(name, { args: ['chord'] }), new LazyAbort());
  assert.equal(inChord.state, 'FAILURE');
  assert.match((inChord as { exc: { exc_message: string[] } }).exc.exc_message[0]!, /must not be part of a chord/);
  const empty = await executeTask(job(name, { args: ['empty'] }), new LazyAbort());
  assert.equal(empty.state, 'FAILURE');
  assert.match((empty as { exc: { exc_message: string[] } }).exc.exc_message[0]!, /empty chain/);
});

test('ctx.addToChord: the part is placed in the chord and frozen; it travels with the outcome, whatever the outcome', async () => {
  const name = unique('grower');
  task(
    name,
    (ctx, fail: boolean) => {
      const { id } = ctx.addToChord(add.s(1, 2));
      if (fail) throw new Error('after adding');
      return id;
    },
    { bind: true },
  );
  const body = add.s(0).toDict();
  const o = await executeTask(job(name, { args: [false], groupId: 'g1', groupIndex: 2, rootId: 'root', chord: body }), new LazyAbort());
  assert.equal(o.state, 'SUCCESS');
  const part = o.added![0]!;
  assert.equal(part.options.task_id, (o as { result: string }).result);
  assert.equal(part.options.group_id, 'g1');
  assert.equal(part.options.group_index, 2);
  assert.equal(part.options.root_id, 'root');
  assert.deepEqual(part.options.chord, body);
  const failed = await executeTask(job(name, { args: [true], groupId: 'g1', chord: body }), new LazyAbort());
  assert.equal(failed.state, 'FAILURE');
  assert.equal(failed.added?.length, 1, 'Celery has sent it by then too');
  const outside = await executeTask(job(name, { args: [false] }), new LazyAbort());
  assert.equal(outside.state, 'FAILURE');
  assert.deepEqual((outside as { exc: unknown }).exc, { exc_type: 'ValueError', exc_module: 'builtins', exc_message: ['Current task is not member of any chord'] });
});

test('request fields reach ctx from the job; without them, the defaults', async () => {
  const name = unique('fields');
  task(name, (ctx) => ({ di: ctx.deliveryInfo, replyTo: ctx.replyTo, corr: ctx.correlationId, idx: ctx.groupIndex, cb: ctx.callbacks?.length ?? null }), { bind: true });
  const plain = await executeTask(job(name, { queue: 'q1' }), new LazyAbort());
  assert.deepEqual((plain as { result: unknown }).result, { di: { exchange: '', routingKey: 'q1', priority: null, redelivered: false }, replyTo: null, corr: null, idx: null, cb: null });
  const full = await executeTask(
    job(name, { queue: 'q1', deliveryInfo: { exchange: 'ex', routingKey: 'rk', priority: 7, redelivered: true }, replyTo: 'r', correlationId: 'c', groupIndex: 3, callbacks: [add.s(1).toDict()] }),
    new LazyAbort(),
  );
  assert.deepEqual((full as { result: unknown }).result, { di: { exchange: 'ex', routingKey: 'rk', priority: 7, redelivered: true }, replyTo: 'r', corr: 'c', idx: 3, cb: 1 });
});

test('a declared error is stored as its Python exception; a bad mapping falls back to [message] and says why', () => {
  class Declined extends Error {
    static readonly celery = pythonException<Declined>({ module: 'shop.errors', name: 'Declined', args: (e) => [e.code, 2] });
    constructor(readonly code: string) {
      super(`declined ${code}`);
    }
  }
  class SubDeclined extends Declined {}
  const info = errorToInfo(new Declined('x'));
  assert.deepEqual(info.exc, { exc_type: 'Declined', exc_module: 'shop.errors', exc_message: ['x', 2] });
  assert.equal(info.repr, "Declined('x', 2)");
  assert.equal(errorToInfo(new SubDeclined('y')).exc.exc_type, 'Declined', 'a subclass is stored as its declared base');
  class Broken extends Error {
    static readonly celery = pythonException<Broken>({ module: 'm', name: 'Broken', args: () => [circular] });
  }
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  const broken = errorToInfo(new Broken('msg'));
  assert.deepEqual(broken.exc.exc_message, ['msg']);
  assert.match(broken.traceback, /not JSON-serializable/);
  class Throws extends Error {
    static readonly celery = pythonException({ module: 'm', name: 'Throws', args: () => { throw new Error('oops'); } });
  }
  assert.match(errorToInfo(new Throws('m')).traceback, /args mapping threw oops/);
  assert.throws(() => pythonException({ module: 'os; rm', name: 'X' }), (e: unknown) => e instanceof ConfigError && /dotted Python name/.test(e.message));
  assert.throws(() => pythonException({ module: 'm', name: '' }), ConfigError);
  assert.throws(() => pythonException({ module: 'm', name: 'X', args: [1] as never }), /args must be a function/);
  // Undeclared: as before.
  assert.deepEqual(errorToInfo(new RangeError('r')).exc, { exc_type: 'RangeError', exc_module: 'sprig', exc_message: ['r'] });
});

test('a stored failure read back is checked: exc_message always an array, names bounded', () => {
  assert.deepEqual(parseExceptionInfo({ exc_type: 'ValueError', exc_module: 'builtins', exc_message: ['a', 2] }), { exc_type: 'ValueError', exc_module: 'builtins', exc_message: ['a', 2] });
  assert.deepEqual(parseExceptionInfo({ exc_type: 'E', exc_message: 'old style' }), { exc_type: 'E', exc_module: 'celery.exceptions', exc_message: ['old style'] });
  assert.deepEqual(parseExceptionInfo({ exc_type: 'E', exc_module: 5, exc_message: null })!.exc_message, []);
  assert.equal(parseExceptionInfo({ exc_type: 'x'.repeat(10_000) })!.exc_type.length, 256);
  assert.equal(parseExceptionInfo({ exc_message: ['no type'] }), undefined);
  assert.equal(parseExceptionInfo('ValueError'), undefined);
  const e = new TaskError('id', parseExceptionInfo({ exc_type: 'E', exc_message: { not: 'a list' } })!, null);
  assert.deepEqual(e.args, [{ not: 'a list' }]);
  assert.match(e.message, /^E: \{"not":"a list"\}$/);
});

test('celery.accumulate is built in: its args, or the one at index; a bad index fails it', async () => {
  assert.ok(getTask('celery.accumulate'));
  const run = (args: unknown[], kwargs: Record<string, unknown>) => executeTask(job('celery.accumulate', { args, kwargs }), new LazyAbort());
  assert.deepEqual(((await run([[1, 2]], { index: 0 })) as { result: unknown }).result, [1, 2]);
  assert.deepEqual(((await run([1, 2], {})) as { result: unknown }).result, [1, 2]);
  assert.equal((await run([1], { index: 'x' })).state, 'FAILURE');
  assert.equal((await run([1], { index: 5 })).state, 'FAILURE');
});

test('the Hub join waits for parts added to it', () => {
  const s = new ChordStore();
  s.setSize('g', 1);
  s.add('g', 2);
  const part = (id: string) => s.partReturn({ groupId: 'g', taskId: id, groupIndex: 0, state: 'SUCCESS', result: id });
  assert.equal(part('a'), null);
  assert.equal(part('b'), null);
  assert.deepEqual(part('c')?.map((e) => e.result), ['a', 'b', 'c']);
});

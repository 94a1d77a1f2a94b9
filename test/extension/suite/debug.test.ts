/// <reference types="mocha" />
/**
 * Debug Task and Debug Worker under the real JavaScript debugger of the host (js-debug): a
 * breakpoint in a `.ts` tasks file is hit, read back through the Debug Adapter Protocol (a
 * tracker sees the `stopped` event; `stackTrace` gives the `.ts` path and line; `evaluate` reads
 * the task's variables in that frame).
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { cliPath, nodeChildEnv } from '../../../extension/src/runtime.js';
import type { DebugStarted } from '../../../extension/src/debug/debug-task.js';
import { api, waitFor, workspaceDir } from './helpers.js';

const SOURCE = `import { task } from 'sprig-queue';

export const debugMe = task(
  'debug_me',
  (ctx, x: number) => {
    const doubled = x * 2;
    return { doubled, id: ctx.id, retries: ctx.retries, aborted: ctx.signal.aborted };
  },
  { bind: true },
);
`;

interface Stop {
  session: vscode.DebugSession;
  threadId: number;
  reason: string;
}

suite('Debug Task and Debug Worker (js-debug)', function () {
  this.timeout(300_000);
  const file = () => path.join(workspaceDir(), 'debugging.tasks.ts');
  const bpLine = SOURCE.split('\n').findIndex((l) => l.includes('const doubled'));
  const stops: Stop[] = [];
  let output = '';
  const disposables: vscode.Disposable[] = [];
  let workerRun: { hostname: string; taskId: string } | undefined;

  suiteSetup(async () => {
    fs.writeFileSync(file(), SOURCE);
    disposables.push(
      vscode.debug.registerDebugAdapterTrackerFactory('*', {
        createDebugAdapterTracker: (session) => ({
          onDidSendMessage: (m: { type?: string; event?: string; body?: { threadId?: number; reason?: string; output?: string } }) => {
            if (m.type !== 'event') return;
            if (m.event === 'stopped') stops.push({ session, threadId: m.body?.threadId ?? 0, reason: m.body?.reason ?? '' });
            if (m.event === 'output' && m.body?.output) output += m.body.output;
          },
        }),
      }),
    );
    vscode.debug.addBreakpoints([new vscode.SourceBreakpoint(new vscode.Location(vscode.Uri.file(file()), new vscode.Position(bpLine, 0)))]);
  });

  suiteTeardown(async () => {
    await vscode.debug.stopDebugging();
    vscode.debug.removeBreakpoints(vscode.debug.breakpoints);
    for (const d of disposables) d.dispose();
    fs.rmSync(file(), { force: true });
  });

  /** The next breakpoint stop after `from` stops: its top frame (path, 1-based line) and an evaluator in it. */
  async function nextStop(from: number) {
    // The first session starts js-debug in this host: minutes on a loaded machine, so a long ceiling;
    // what the debuggee printed tells a stop that never came from a slow one.
    const stop = await waitFor('the debugger to stop at the breakpoint', () => stops.slice(from).find((s) => s.reason === 'breakpoint'), 180_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}; stops seen: ${JSON.stringify(stops.slice(from).map((s) => s.reason))}; debuggee output: ${output.slice(-2000)}`);
    });
    const st = (await stop.session.customRequest('stackTrace', { threadId: stop.threadId, startFrame: 0, levels: 1 })) as { stackFrames: Array<{ id: number; line: number; source?: { path?: string } }> };
    const top = st.stackFrames[0]!;
    // code-server's extension host is remote to the workbench: the path can come as a vscode-remote URI.
    const p = top.source?.path ?? '';
    const file = /^[a-z][\w+.-]+:/i.test(p) && !/^[a-z]:[\\/]/i.test(p) ? vscode.Uri.parse(p).fsPath : p;
    const evaluate = async (expression: string) => ((await stop.session.customRequest('evaluate', { expression, frameId: top.id, context: 'watch' })) as { result: string }).result;
    return { stop, top, file, evaluate, resume: () => stop.session.customRequest('continue', { threadId: stop.threadId }) };
  }

  function ended(name: string): Promise<void> {
    return new Promise((resolve) => {
      const d = vscode.debug.onDidTerminateDebugSession((s) => {
        if (s.configuration.name === name) {
          d.dispose();
          resolve();
        }
      });
    });
  }

  test('Debug Task from the CodeLens: the breakpoint in the .ts file is hit with the arguments given; the run ends with its result', async () => {
    const doc = await vscode.workspace.openTextDocument(file());
    const lenses = await waitFor('the Debug CodeLens', async () => {
      const l = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri);
      return l?.find((x) => x.command?.command === 'sprig.debugTask');
    });
    assert.deepEqual(lenses.command!.arguments, [{ name: 'debug_me', file: file() }]);
    const launch = async () => {
      const from = stops.length;
      const started = (await vscode.commands.executeCommand<DebugStarted>('sprig.debugTask', { ...(lenses.command!.arguments![0] as object), args: [21] }))!;
      return { from, done: ended(started.name) };
    };
    let { from, done } = await launch();
    // The first js-debug session of a fresh host can start before the workbench has the breakpoint
    // that suiteSetup set the same instant (seen once in CI: attached, ran, no stop). A user's
    // breakpoint is set long before; so once, and said: the run ended without a stop, launch again.
    const stopped = waitFor('a stop', () => stops.slice(from).find((x) => x.reason === 'breakpoint'), 180_000, 200).then(() => 'stopped' as const, () => 'none' as const);
    if ((await Promise.race([stopped, done.then(() => 'ended' as const)])) === 'ended') {
      console.log('    (the first Debug Task session ended before its breakpoint was bound: launching once more)');
      ({ from, done } = await launch());
    }
    const s = await nextStop(from);
    assert.equal(path.resolve(s.file), path.resolve(file()), 'the stop is in the .ts tasks file (source maps)');
    assert.equal(s.top.line, bpLine + 1);
    assert.equal(await s.evaluate('x'), '21');
    assert.equal(await s.evaluate('ctx.retries'), '0');
    assert.equal(await s.evaluate('ctx.signal instanceof AbortSignal'), 'true');
    await s.resume();
    await done;
    assert.match(output, /debug_me\[[0-9a-f-]+\] succeeded in [\d.]+ s: \{"doubled":42,/);
  });

  test('Debug Worker (process pool): a task enqueued from the CLI stops at the breakpoint in the pool child, then succeeds', async () => {
    const a = await api();
    const queue = `test-${randomUUID()}`;
    const started = (await vscode.commands.executeCommand<DebugStarted>('sprig.debugWorker', { tasksFile: file(), queues: [queue], concurrency: 1, pool: 'process' }))!;
    assert.ok(started.hostname);
    await waitFor('the debug worker online in the monitor', () => a.hub().state.workers.get(started.hostname!)?.online, 60_000);
    const { target } = await a.hub().connection();
    const call = () => execFileSync(process.execPath, [cliPath(), 'call', 'debug_me', '--args', '[5]', '-Q', queue, '--no-check'], { cwd: workspaceDir(), env: nodeChildEnv({ SPRIG_BROKER_URL: target.url }), encoding: 'utf8' }).trim();
    let from = stops.length;
    let taskId = call();
    // The first task of a pool child js-debug has just attached to can run before the child's
    // breakpoint is bound (seen once in CI: attached, ran in 1 ms, no stop): say so and send one more.
    const first = await waitFor('a stop, or the first task done', () => stops.slice(from).some((x) => x.reason === 'breakpoint') || a.hub().state.tasks.get(taskId)?.state === 'SUCCESS', 180_000, 200);
    if (first && !stops.slice(from).some((x) => x.reason === 'breakpoint')) {
      console.log(`[debug] the first task ${taskId} ran before the pool child's breakpoint was bound; enqueueing one more`);
      from = stops.length;
      taskId = call();
    }
    const s = await nextStop(from);
    assert.equal(path.resolve(s.file), path.resolve(file()));
    assert.equal(s.top.line, bpLine + 1);
    assert.equal(await s.evaluate('ctx.id'), `'${taskId}'`);
    assert.equal(await s.evaluate('x'), '5');
    await s.resume();
    const t = await a.hub().waitForTask(taskId, 30_000);
    assert.equal(t?.state, 'SUCCESS');
    assert.equal(t?.worker, started.hostname);
    assert.match(t?.result ?? '', /'doubled': 10/);
    workerRun = { hostname: started.hostname!, taskId };
    const done = ended(started.name);
    await vscode.debug.stopDebugging(s.stop.session.parentSession ?? s.stop.session);
    await done;
  });

  test('Debug Task from a monitor row: the run\'s exact arguments and id', async () => {
    assert.ok(workerRun, 'the Debug Worker test ran first');
    const from = stops.length;
    const started = (await vscode.commands.executeCommand<DebugStarted>('sprig.debugTask', workerRun.taskId))!;
    const done = ended(started.name);
    const s = await nextStop(from);
    assert.equal(s.top.line, bpLine + 1);
    assert.equal(await s.evaluate('x'), '5');
    assert.equal(await s.evaluate('ctx.id'), `'${workerRun.taskId}'`);
    await s.resume();
    await done;
  });
});

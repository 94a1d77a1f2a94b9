/**
 * The monitor's canvas tree (webview-ui/src/canvas-tree.ts) from the events a real Sprig worker
 * sends on Redis for chain(add, add, chord([mul, mul, mul], tsum)): the chain steps nested parent →
 * child, the chord's header parts under a chord node and its body under the header.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { chain, chord, defaultApp } from '../../runtime/src/index.js';
import { RedisBroker } from '../../runtime/src/brokers/redis/redis-broker.js';
import { ClusterState } from '../../runtime/src/events/state.js';
import { buildCanvasTrees, canvasTreeLines } from '../../webview-ui/src/canvas-tree.js';
import { ROOT, runCli, uniqueQueue, waitFor } from '../helpers.js';
import { add, mul, tsum } from '../fixtures/canvas-tasks.js';

const REDIS = 'redis://127.0.0.1:6379/0';

test('a chain ending in a chord, from real task events: chain steps nested, the chord body under its header', { timeout: 90_000 }, async () => {
  const queue = uniqueQueue();
  const state = new ClusterState();
  const events = new RedisBroker(REDIS);
  await events.connect();
  const stop = await events.subscribeEvents((e) => state.apply(e));
  const w = runCli(['worker', '--app', path.join(ROOT, 'test', 'fixtures', 'canvas-tasks.ts'), '--broker', REDIS, '-Q', queue, '-P', 'async', '-c', '4', '-E']);
  try {
    await waitFor(() => w.err().includes('ready:') || w.proc.exitCode !== null, 30_000, 'worker ready');
    assert.equal(w.proc.exitCode, null, w.err());
    defaultApp().configure({ brokerUrl: REDIS, defaultQueue: queue });
    const res = chain(add.s(1, 1), add.s(2), chord([mul.s(1), mul.s(2), mul.s(3)], tsum.s())).applyAsync();
    // 4 * (1 + 2 + 3)
    assert.equal(await res.get({ timeout: 30 }), 24);
    const ours = () => [...state.tasks.values()].filter((t) => t.name?.startsWith('canvas.'));
    await waitFor(() => ours().filter((t) => t.state === 'SUCCESS').length === 6, 30_000, 'six tasks succeeded (events)');
    const trees = buildCanvasTrees(ours());
    assert.equal(trees.length, 1, canvasTreeLines(trees[0]!).join('\n'));
    assert.deepEqual(canvasTreeLines(trees[0]!), [
      'canvas.add SUCCESS',
      '  canvas.add SUCCESS',
      '    chord (3)',
      '      canvas.mul SUCCESS',
      '      canvas.mul SUCCESS',
      '      canvas.mul SUCCESS',
      '      body:',
      '        canvas.tsum SUCCESS',
    ]);
    const root = trees[0]!;
    assert.equal(root.kind, 'task');
    const chordNode = root.kind === 'task' && root.children[0]?.kind === 'task' ? root.children[0].children[0] : undefined;
    assert.equal(chordNode?.kind, 'chord');
    if (chordNode?.kind === 'chord') assert.equal(chordNode.body?.task.uuid, res.id, 'the body is the chain result');
  } finally {
    w.proc.kill('SIGTERM');
    await w.exit;
    await stop();
    await events.close();
    await defaultApp().close();
  }
});

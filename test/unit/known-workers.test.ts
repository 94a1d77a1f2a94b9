// known-workers.ts: a read-only broadcast ends once the workers the broker had last time answered.
// The broadcasts go to a recording Control (what is asked, with which limit and destination); the
// real thing on Redis is in test/integration/cli.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { broadcastToKnown, knownWorkers, rememberWorkers } from '../../runtime/src/cli/known-workers.js';
import type { App } from '../../runtime/src/app/app.js';
import type { BroadcastOptions, Replies } from '../../runtime/src/control/client.js';
import { tmpDir } from '../helpers.js';

type Call = BroadcastOptions & { method: string };

/** Workers that answer `method` (those in `destination`, if any), `limit` of them at most, after `delayMs`. */
function fakeApp(workers: string[], delayMs = 0): { app: App; calls: Call[] } {
  const calls: Call[] = [];
  const control = {
    async broadcast(method: string, opts: BroadcastOptions = {}): Promise<Replies> {
      calls.push({ method, ...opts });
      const answering = workers.filter((w) => !opts.destination?.length || opts.destination.includes(w));
      const n = opts.limit ?? answering.length;
      // A full window when fewer answer than the limit asks for.
      await new Promise((r) => setTimeout(r, answering.length < n ? (opts.timeout ?? 1) * 1000 : delayMs));
      return answering.slice(0, n).map((w) => ({ [w]: { ok: 'pong' } }));
    },
  };
  const app = { control, broker: async () => ({ kind: 'redis', displayUrl: 'redis://h:6379/0' }) } as unknown as App;
  return { app, calls };
}

test('first run: the whole window, and who answered is remembered; next run: done when they have answered', async () => {
  const file = path.join(tmpDir(), 'known.json');
  const a = fakeApp(['w1@h', 'w2@h']);
  const first = await broadcastToKnown(a.app, 'ping', { timeout: 0.2 }, file);
  assert.equal(first.length, 2);
  assert.equal(a.calls[0]!.limit, undefined);
  assert.deepEqual(knownWorkers('redis://h:6379/0', file), ['w1@h', 'w2@h']);
  const b = fakeApp(['w1@h', 'w2@h']);
  const t0 = Date.now();
  const second = await broadcastToKnown(b.app, 'ping', { timeout: 5 }, file);
  assert.ok(Date.now() - t0 < 4000, 'it did not wait out the 5 s window');
  assert.equal(second.length, 2);
  assert.equal(b.calls[0]!.limit, 2);
});

test('a known worker gone: the window is waited out and it is forgotten; a new one that answers first: the missing known one is asked', async () => {
  const file = path.join(tmpDir(), 'known.json');
  rememberWorkers('redis://h:6379/0', ['w1@h', 'w2@h'], file);
  const gone = fakeApp(['w1@h']);
  const r = await broadcastToKnown(gone.app, 'ping', { timeout: 0.2 }, file);
  assert.equal(r.length, 1);
  assert.deepEqual(knownWorkers('redis://h:6379/0', file), ['w1@h']);

  rememberWorkers('redis://h:6379/0', ['w1@h', 'w2@h'], file);
  // new@h answers before w2@h: two answers, but w2@h is still missing, so it is asked alone.
  const fresh = fakeApp(['w1@h', 'new@h', 'w2@h']);
  const all = await broadcastToKnown(fresh.app, 'ping', { timeout: 2 }, file);
  assert.deepEqual(all.map((x) => Object.keys(x)[0]).sort(), ['new@h', 'w1@h', 'w2@h']);
  assert.deepEqual(fresh.calls[1]!.destination, ['w2@h']);
  assert.deepEqual(knownWorkers('redis://h:6379/0', file), ['new@h', 'w1@h', 'w2@h']);
});

test('--timeout given (exact) or a destination: the whole window; a destination does not rewrite what is known', async () => {
  const file = path.join(tmpDir(), 'known.json');
  rememberWorkers('redis://h:6379/0', ['w1@h'], file);
  const exact = fakeApp(['w1@h', 'w2@h']);
  await broadcastToKnown(exact.app, 'ping', { timeout: 0.1, exact: true }, file);
  assert.equal(exact.calls[0]!.limit, undefined);
  assert.deepEqual(knownWorkers('redis://h:6379/0', file), ['w1@h', 'w2@h']);
  const dest = fakeApp(['w1@h', 'w2@h']);
  await broadcastToKnown(dest.app, 'ping', { timeout: 0.1, destination: ['w2@h'] }, file);
  assert.deepEqual(dest.calls[0]!.limit, 1);
  assert.deepEqual(knownWorkers('redis://h:6379/0', file), ['w1@h', 'w2@h']);
  // No file (SPRIG_KNOWN_WORKERS=0): nothing is remembered, every run waits its window.
  const off = fakeApp(['w1@h']);
  await broadcastToKnown(off.app, 'ping', { timeout: 0.1 }, null);
  await broadcastToKnown(off.app, 'ping', { timeout: 0.1 }, null);
  assert.deepEqual(off.calls.map((c) => c.limit), [undefined, undefined]);
});

test("the known-workers file is in the platform's cache folder, XDG_CACHE_HOME first, none with SPRIG_KNOWN_WORKERS=0", async () => {
  const { knownWorkersFile } = await import('../../runtime/src/cli/known-workers.js');
  const os = await import('node:os');
  assert.equal(knownWorkersFile({ XDG_CACHE_HOME: '/x' }, 'darwin'), path.join('/x', 'sprig', 'known-workers.json'));
  assert.equal(knownWorkersFile({ LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, 'win32'), path.join('C:\\Users\\u\\AppData\\Local', 'sprig', 'known-workers.json'));
  assert.equal(knownWorkersFile({}, 'darwin'), path.join(os.homedir(), 'Library', 'Caches', 'sprig', 'known-workers.json'));
  assert.equal(knownWorkersFile({}, 'linux'), path.join(os.homedir(), '.cache', 'sprig', 'known-workers.json'));
  assert.equal(knownWorkersFile({ SPRIG_KNOWN_WORKERS: '0' }, 'linux'), null);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findRunningBroker } from '../../runtime/src/brokers/embedded/discovery.js';
import { cliResult, stopEmbeddedBroker, tmpDir } from '../helpers.js';

test('sprig demo: kwargs in its event lines; it says the embedded broker it started still runs, how to stop it, and what to try next', async () => {
  const dir = tmpDir('sprig-demo-');
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "demo-test", "private": true }\n');
  const env = { SPRIG_PROJECT_DIR: dir, SPRIG_BROKER_URL: '' };
  try {
    const r = await cliResult(['demo', '--pool', 'async'], { cwd: dir, env, timeoutMs: 120_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /event task-received +\S+ [0-9a-f]{8} greet\('Ada',\) \{'greeting': 'Hi'\}/);
    assert.ok(await findRunningBroker(dir), 'the demo left no broker running (then it must not say so)');
    assert.match(r.stdout, new RegExp(`The embedded broker this demo started is still running \\(its files are in ${path.join(dir, '.sprig').replace(/[.]/g, '\\.')}\\)`));
    assert.match(r.stdout, /exits by itself after 10 minutes with no client, or now with: +sprig broker --stop/);
    assert.match(r.stdout, /^Next:$/m);
    assert.match(r.stdout, /sprig worker --app tasks\.ts/);
    assert.match(r.stdout, /Sprig monitor in VS Code/);
    // Run again: the broker was there before it, and it says so.
    const again = await cliResult(['demo', '--pool', 'async'], { cwd: dir, env, timeoutMs: 120_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /it was running before the demo\) is still running/);
  } finally {
    stopEmbeddedBroker(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

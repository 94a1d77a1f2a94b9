// What the extension takes from the runtime instead of doing it again: the config order without
// the project's config file (an untrusted workspace), and the flags `sprig worker` defines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, cliFlags, resolveConfig } from '../../runtime/src/index.js';

function project(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprig-cfg-'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{}');
  fs.writeFileSync(path.join(dir, 'sprig.config.json'), JSON.stringify({ brokerUrl: 'redis://from-file:6379/0', defaultQueue: 'file-q' }));
  return dir;
}

async function withEnv<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const before = process.env.SPRIG_BROKER_URL;
  if (value === undefined) delete process.env.SPRIG_BROKER_URL;
  else process.env.SPRIG_BROKER_URL = value;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.SPRIG_BROKER_URL;
    else process.env.SPRIG_BROKER_URL = before;
  }
}

test('resolveConfig with configFile: false leaves sprig.config unread; the rest of the order holds', async () => {
  const dir = project();
  try {
    await withEnv(undefined, async () => {
      assert.equal((await resolveConfig({ projectDir: dir })).brokerUrl, 'redis://from-file:6379/0');
      const c = await resolveConfig({ projectDir: dir }, dir, { configFile: false });
      assert.equal(c.brokerUrl, 'sprig://');
      assert.equal(c.defaultQueue, undefined);
      assert.equal((await resolveConfig({ projectDir: dir, brokerUrl: 'amqp://flag//' }, dir, { configFile: false })).brokerUrl, 'amqp://flag//');
    });
    await withEnv('redis://from-env:6379/1', async () => {
      assert.equal((await resolveConfig({ projectDir: dir }, dir, { configFile: false })).brokerUrl, 'redis://from-env:6379/1');
    });
    // An App told so resolves its settings the same way.
    await withEnv(undefined, async () => {
      assert.equal((await new App({ projectDir: dir }, { configFile: false }).config()).defaultQueue, undefined);
      assert.equal((await new App({ projectDir: dir }).config()).defaultQueue, 'file-q');
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('cliFlags reads the flags a command defines (no --help text)', () => {
  const worker = cliFlags('worker');
  for (const f of ['--app', '--broker', '--pool', '--queues', '--concurrency', '--events', '--hostname', '--autoreload', '--time-limit']) {
    assert.ok(worker.has(f), `sprig worker has ${f}`);
  }
  assert.ok(!worker.has('--dir'), '--dir is a broker flag');
  assert.ok(cliFlags('broker').has('--stop'));
  assert.throws(() => cliFlags('nope'), /no command "nope"/);
});

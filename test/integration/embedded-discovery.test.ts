import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ensureEmbeddedBroker,
  isPidAlive,
  readBrokerInfo,
  brokerInfoPath,
} from '../../runtime/src/brokers/embedded/discovery.js';
import { EmbeddedBroker } from '../../runtime/src/brokers/embedded/embedded-broker.js';
import { buildTaskMessage } from '../../runtime/src/protocol/message.js';

const tmp = () => fs.mkdtempSync(os.tmpdir() + '/sprig-test-');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitExit(pid: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (isPidAlive(pid)) {
    if (Date.now() > end) throw new Error(`pid ${pid} still alive`);
    await sleep(50);
  }
}

describe('embedded broker discovery', () => {
  it('fails clearly when autostart is off and no broker runs', async () => {
    const dir = tmp();
    await assert.rejects(ensureEmbeddedBroker({ projectDir: dir, autostart: false }), /no embedded broker running in .*sprig broker/);
    const b = new EmbeddedBroker('sprig://', { projectDir: dir, noAutostart: true });
    await assert.rejects(b.connect(), { code: 'E_CONNECTION' });
    await b.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('two concurrent autostarts end up with one broker', async () => {
    const dir = tmp();
    const [a, b, c] = await Promise.all([
      ensureEmbeddedBroker({ projectDir: dir }),
      ensureEmbeddedBroker({ projectDir: dir }),
      ensureEmbeddedBroker({ projectDir: dir }),
    ]);
    assert.equal(a.port, b.port);
    assert.equal(a.port, c.port);
    assert.equal(a.token, b.token);
    const info = readBrokerInfo(dir)!;
    assert.notEqual(info.pid, process.pid);
    assert.ok(isPidAlive(info.pid));
    assert.equal(fs.statSync(brokerInfoPath(dir)).mode & 0o777, 0o600);
    assert.ok(!fs.existsSync(path.join(dir, '.sprig', 'broker.lock')), 'lock released');
    const log = fs.readFileSync(path.join(dir, '.sprig', 'broker.log'), 'utf8');
    assert.equal(log.match(/listening on/g)?.length, 1, log);

    // A client through the sprig:// URL finds the same broker.
    const broker = new EmbeddedBroker('sprig://', { projectDir: dir });
    await broker.connect();
    assert.equal(broker.port, a.port);
    await broker.publish('q', buildTaskMessage({ name: 't', args: [] }));
    assert.equal(await broker.queueLength('q'), 1);
    await broker.close();

    process.kill(info.pid, 'SIGTERM');
    await waitExit(info.pid);
    assert.equal(readBrokerInfo(dir), null, 'broker.json removed on a clean exit');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an autostarted broker exits when idle', async () => {
    const dir = tmp();
    process.env.SPRIG_BROKER_IDLE_EXIT_MS = '400';
    try {
      await ensureEmbeddedBroker({ projectDir: dir });
    } finally {
      delete process.env.SPRIG_BROKER_IDLE_EXIT_MS;
    }
    const { pid } = readBrokerInfo(dir)!;
    await waitExit(pid, 5000);
    assert.equal(readBrokerInfo(dir), null);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { api, EXTENSION_ID, waitFor, workspaceDir } from './helpers.js';

interface SelectResult {
  url: string;
  ok: boolean;
  error?: string;
}

suite('Brokers', function () {
  this.timeout(60_000);

  test('Select Broker tests the connection: the embedded broker answers, a closed port does not', async () => {
    const ok = await vscode.commands.executeCommand<SelectResult>('sprig.selectBroker', { url: 'sprig://', save: false });
    assert.equal(ok?.ok, true, ok?.error);
    const bad = await vscode.commands.executeCommand<SelectResult>('sprig.selectBroker', { url: 'redis://127.0.0.1:1/0', save: false });
    assert.equal(bad?.ok, false);
  });

  test('a password goes to SecretStorage, never to the setting', async function () {
    const r = await vscode.commands.executeCommand<SelectResult>('sprig.selectBroker', { url: 'redis://:s3cret@127.0.0.1:6379/15' });
    if (r && !r.ok && /ECONNREFUSED|no answer/.test(r.error ?? '')) {
      // No Redis on this machine: the setting part still holds.
    }
    const setting = vscode.workspace.getConfiguration('sprig').get<string>('brokerUrl');
    assert.ok(setting && !setting.includes('s3cret'), `setting holds ${setting}`);
    assert.equal(setting, 'redis://127.0.0.1:6379/15');
    // Back to the default (embedded) broker for what follows.
    await vscode.commands.executeCommand('sprig.selectBroker', { url: '' });
    assert.equal(vscode.workspace.getConfiguration('sprig').get<string>('brokerUrl'), '');
    const a = await api();
    await waitFor('the hub to reconnect', async () => (await a.hub().connection()).target.embedded, 20_000);
  });

  test('Start / Stop Embedded Broker', async () => {
    const a = await api();
    await a.workers().stopAll();
    assert.equal(await vscode.commands.executeCommand('sprig.startEmbeddedBroker'), true);
    const { findRunningBroker } = await import('../../../runtime/src/brokers/embedded/discovery.js');
    assert.ok(await findRunningBroker(workspaceDir()));
    assert.equal(await vscode.commands.executeCommand('sprig.stopEmbeddedBroker'), true);
    await waitFor('the broker to be gone', async () => (await findRunningBroker(workspaceDir())) === null, 10_000);
    await vscode.commands.executeCommand('sprig.startEmbeddedBroker');
    assert.ok(await findRunningBroker(workspaceDir()));
  });

  test('Stop Embedded Broker stops a broker this window did not start by its shutdown request, no signal', async () => {
    const dir = workspaceDir();
    const { brokerLogPath, findRunningBroker } = await import('../../../runtime/src/brokers/embedded/discovery.js');
    assert.equal(await vscode.commands.executeCommand('sprig.stopEmbeddedBroker'), true);
    await waitFor('our broker to be gone', async () => (await findRunningBroker(dir)) === null, 10_000);
    // One started the way a CLI worker starts it: detached, no IPC channel to this window.
    const logFile = brokerLogPath(dir);
    const logBefore = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    // Started by the runtime the extension ships, as `sprig worker` autostarts it (the suite's own
    // bundle has no CLI next to it).
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const shipped = require(path.join(ext.extensionPath, 'dist', 'runtime', 'index.js')) as { ensureEmbeddedBroker(o: { projectDir: string }): Promise<unknown> };
    await shipped.ensureEmbeddedBroker({ projectDir: dir });
    assert.equal(await vscode.commands.executeCommand('sprig.stopEmbeddedBroker'), true);
    await waitFor('the detached broker to be gone', async () => (await findRunningBroker(dir)) === null, 15_000);
    assert.match(fs.readFileSync(logFile).subarray(logBefore).toString('utf8'), /shutdown requested by a client/);
    await vscode.commands.executeCommand('sprig.startEmbeddedBroker');
    assert.ok(await findRunningBroker(dir));
  });
});

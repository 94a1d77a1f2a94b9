/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { api, tasksFile, workspaceDir } from './helpers.js';

suite('Untrusted workspace', () => {
  test('the workspace is untrusted (restricted mode) and the extension is active', async () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const a = await api();
    assert.ok(a.activationMs >= 0);
  });

  test('Start Worker refuses, with an explanation, and starts no process', async () => {
    const a = await api();
    const r = await vscode.commands.executeCommand('sprig.startWorker', { tasksFile: tasksFile(), queues: ['celery'], concurrency: 1, pool: 'async' });
    assert.equal(r, undefined);
    assert.equal(a.workers().list().length, 0);
    await assert.rejects(a.workers().start({ tasksFile: tasksFile(), queues: ['celery'], concurrency: 1, pool: 'async' }), /untrusted workspace/);
  });

  test('Restart Worker refuses too', async () => {
    assert.equal(await vscode.commands.executeCommand('sprig.restartWorker', 'nope'), undefined);
  });

  test("the monitor connects without running the workspace's sprig.config.ts", async () => {
    const a = await api();
    const dir = workspaceDir();
    const config = path.join(dir, 'sprig.config.ts');
    const marker = path.join(dir, 'config-ran.txt');
    fs.writeFileSync(config, `import * as fs from 'node:fs';\nfs.writeFileSync(${JSON.stringify(marker)}, 'ran');\nexport default { brokerUrl: 'redis://127.0.0.1:1/0' };\n`);
    try {
      await a.hub().reset();
      const c = await a.hub().connection();
      assert.equal(c.target.embedded, true, `took ${c.target.displayUrl}`);
      assert.equal(c.target.configFile, false);
      // The hub's App resolves its own settings (signing, result backend) the same way.
      assert.equal((await c.app.config()).brokerUrl, c.target.url);
      assert.equal(fs.existsSync(marker), false, 'sprig.config.ts ran in an untrusted workspace');
    } finally {
      fs.rmSync(config, { force: true });
      fs.rmSync(marker, { force: true });
    }
  });
});

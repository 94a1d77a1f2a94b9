/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { api, EXTENSION_ID, record } from './helpers.js';

suite('Activation', () => {
  // The time activate() takes is a figure (the launcher prints it), not a bound: a busy machine
  // would fail a timed test. `npm run bench:monitor` holds the timing targets.
  test('activates (activate() time recorded)', async () => {
    const a = await api();
    record('activationMs', a.activationMs);
    console.log(`    activate() took ${a.activationMs.toFixed(2)} ms`);
    assert.ok(Number.isFinite(a.activationMs) && a.activationMs >= 0);
    assert.equal(vscode.extensions.getExtension(EXTENSION_ID)?.isActive, true);
  });

  test('every command of the manifest is registered, in the "Sprig" category', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const pj = JSON.parse(fs.readFileSync(path.join(ext.extensionPath, 'package.json'), 'utf8')) as {
      contributes: { commands: Array<{ command: string; category: string }> };
    };
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const c of pj.contributes.commands) {
      assert.ok(registered.has(c.command), `${c.command} is not registered`);
      assert.equal(c.category, 'Sprig');
      assert.match(c.command, /^sprig\.[a-z]+[A-Za-z]*$/);
    }
    assert.ok(pj.contributes.commands.length >= 12);
  });

  test('one Pause control (the monitor\'s own button; the palette commands follow it), distinct icons for Start Worker and Enqueue', () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const pj = JSON.parse(fs.readFileSync(path.join(ext.extensionPath, 'package.json'), 'utf8')) as {
      contributes: { commands: Array<{ command: string; title: string; icon?: string }>; menus: Record<string, Array<{ command: string; group?: string }>> };
    };
    const inTitle = pj.contributes.menus['view/title']!.map((m) => m.command);
    assert.deepEqual(inTitle.filter((c) => /Monitor$/.test(c) && /pause|resume/.test(c)), [], 'a Pause button in the view title too');
    const cmd = (id: string) => pj.contributes.commands.find((c) => c.command === id)!;
    const buttons = pj.contributes.menus['view/title']!.filter((m) => m.group?.startsWith('navigation')).map((m) => cmd(m.command));
    assert.equal(new Set(buttons.map((b) => b.icon)).size, buttons.length, `two buttons share an icon: ${JSON.stringify(buttons)}`);
    assert.equal(new Set(buttons.map((b) => b.title)).size, buttons.length);
    assert.notEqual(cmd('sprig.startWorker').icon, cmd('sprig.enqueueTask').icon);
  });

  test('the runtime is not loaded by activation (deferred to first use)', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const runtimeBundle = path.join(ext.extensionPath, 'dist', 'runtime', 'index.js');
    // Other tests may have used it already: this only holds when it runs first.
    const loaded = Object.keys(require.cache).includes(runtimeBundle);
    record('runtimeLoadedAtActivation', loaded);
  });
});

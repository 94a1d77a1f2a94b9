// Starts code-server (a real VS Code with a Node extension host) on 127.0.0.1:0 in its own
// process group, and opens it in headless Chromium. See shared/vscode-host.md.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/**
 * @param {{ node24: string, codeServer: string, runDir: string, workspace: string, trusted: boolean, testDriver: boolean, extensions?: string[], env?: Record<string,string>, settings?: object, keybindings?: object[] }} o
 */
export async function startCodeServer(o) {
  const ud = path.join(o.runDir, 'ud');
  const ext = path.join(o.runDir, 'ext');
  fs.mkdirSync(path.join(ud, 'User'), { recursive: true });
  fs.mkdirSync(ext, { recursive: true });
  fs.mkdirSync(path.join(o.runDir, 'xdg-config'), { recursive: true });
  fs.mkdirSync(path.join(o.runDir, 'xdg-data'), { recursive: true });
  fs.writeFileSync(path.join(o.runDir, 'config.yaml'), 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
  const settings = {
    'workbench.startupEditor': 'none',
    'security.workspace.trust.enabled': !o.trusted,
    'security.workspace.trust.startupPrompt': 'never',
    'security.workspace.trust.emptyWindow': false,
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'chat.disableAIFeatures': true,
    'workbench.tips.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'window.commandCenter': false,
    'workbench.colorTheme': 'Default Dark Modern',
    ...o.settings,
  };
  fs.writeFileSync(path.join(ud, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  // Test-only keybindings (e.g. to a command no menu contributes, such as sprig._test.feedEvents).
  if (o.keybindings) fs.writeFileSync(path.join(ud, 'User', 'keybindings.json'), JSON.stringify(o.keybindings, null, 2));
  for (const link of o.extensions ?? []) {
    const pj = JSON.parse(fs.readFileSync(path.join(link, 'package.json'), 'utf8'));
    const dest = path.join(ext, `${pj.publisher}.${pj.name}-${pj.version}`);
    fs.rmSync(dest, { recursive: true, force: true });
    fs.symlinkSync(link, dest, 'dir');
  }
  if (o.vsix) {
    // Installed the way a user installs it: from the packaged .vsix.
    const r = spawnSync(o.node24, [o.codeServer, '--extensions-dir', ext, '--user-data-dir', ud, '--install-extension', o.vsix, '--force'], {
      encoding: 'utf8',
      env: { ...process.env, XDG_CONFIG_HOME: path.join(o.runDir, 'xdg-config'), XDG_DATA_HOME: path.join(o.runDir, 'xdg-data') },
    });
    if (r.status !== 0) throw new Error(`code-server --install-extension ${o.vsix} failed: ${r.stdout}${r.stderr}`);
  }
  const args = [
    o.codeServer,
    '--config', path.join(o.runDir, 'config.yaml'),
    '--user-data-dir', ud,
    '--extensions-dir', ext,
    '--bind-addr', '127.0.0.1:0',
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
  ];
  if (o.trusted) args.push('--disable-workspace-trust');
  if (o.testDriver) args.push('--vscode-option', 'enable-smoke-test-driver');
  args.push(o.workspace);
  const logFile = path.join(o.runDir, 'code-server.log');
  const out = fs.openSync(logFile, 'w');
  const child = spawn(o.node24, args, {
    detached: true,
    stdio: ['ignore', out, out],
    env: {
      ...process.env,
      XDG_CONFIG_HOME: path.join(o.runDir, 'xdg-config'),
      XDG_DATA_HOME: path.join(o.runDir, 'xdg-data'),
      ...o.env,
    },
  });
  fs.closeSync(out);
  const deadline = Date.now() + 60_000;
  let url;
  while (!url) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}; see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`code-server did not listen within 60 s; see ${logFile}`);
    const m = /HTTP server listening on (http:\/\/[^\s]+)/.exec(fs.readFileSync(logFile, 'utf8'));
    if (m) url = m[1].replace(/\/$/, '');
    else await new Promise((r) => setTimeout(r, 100));
  }
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  return { url, child, logFile, stop };
}

/** `URL/?folder=...&payload=[...]` for the smoke-test driver (extension development + tests). */
export function testUrl(url, workspace, extensionDevelopmentPath, extensionTestsPath) {
  const host = new URL(url).host;
  const payload = [['extensionDevelopmentPath', `vscode-remote://${host}${extensionDevelopmentPath}`]];
  if (extensionTestsPath) payload.push(['extensionTestsPath', `vscode-remote://${host}${extensionTestsPath}`]);
  return `${url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/**
 * Activation is kept thin (target ≤ 50 ms): register the commands, the monitor view and the
 * CodeLens provider. The runtime, the broker connection and the workers are made on first use.
 */
import * as vscode from 'vscode';
import type { SprigApi } from './api.js';
import { registerCommands } from './commands.js';
import { MonitorViewProvider } from './monitor/monitor-view.js';
import { setExtensionRoot } from './runtime.js';
import { Sprig } from './sprig.js';
import { TaskCodeLensProvider } from './tasks/codelens.js';

let current: Sprig | undefined;

export function activate(context: vscode.ExtensionContext): SprigApi {
  const t0 = performance.now();
  setExtensionRoot(context.extensionPath);
  const sprig = (current = new Sprig(context));
  registerCommands(context, sprig);
  context.subscriptions.push(
    vscode.window.registerWebviewViewProvider(MonitorViewProvider.viewType, sprig.monitor),
    vscode.languages.registerCodeLensProvider(
      [{ language: 'typescript', scheme: 'file' }, { language: 'javascript', scheme: 'file' }],
      new TaskCodeLensProvider(),
    ),
    vscode.workspace.onDidChangeConfiguration((e) => sprig.onConfigurationChanged(e)),
  );
  const activationMs = performance.now() - t0;
  return {
    activationMs,
    workers: () => sprig.workers,
    hub: () => sprig.hub,
    monitor: sprig.monitor,
    workerPages: () => sprig.workerPages,
  };
}

/** Stops every worker this window started. An embedded broker is left to its idle exit: CLI workers or another window may be using it. */
export async function deactivate(): Promise<void> {
  const s = current;
  current = undefined;
  await s?.dispose();
}

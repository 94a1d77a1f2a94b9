/// <reference types="mocha" />
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { SprigApi } from '../../../extension/src/api.js';

export const EXTENSION_ID = 'sprig-dev.sprig';

export async function api(): Promise<SprigApi> {
  const ext = vscode.extensions.getExtension<SprigApi>(EXTENSION_ID);
  if (!ext) throw new Error(`extension ${EXTENSION_ID} is not installed in this host`);
  return ext.isActive ? ext.exports : await ext.activate();
}

export function workspaceDir(): string {
  const f = vscode.workspace.workspaceFolders?.[0];
  if (!f) throw new Error('the test host opened no folder');
  return f.uri.fsPath;
}

export function tasksFile(): string {
  return path.join(workspaceDir(), 'tasks.ts');
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Results for the launcher (activation time etc.). */
export function record(key: string, value: unknown): void {
  const out = process.env.SPRIG_TEST_OUT;
  if (!out) return;
  const file = path.join(out, 'metrics.json');
  let data: Record<string, unknown> = {};
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    /* first */
  }
  data[key] = value;
  fs.writeFileSync(file, JSON.stringify(data, null, 2));
}

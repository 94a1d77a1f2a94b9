/**
 * Finds tasks files and task definitions by reading the text (no execution): a tasks file imports
 * from 'sprig-queue' (or its alias 'sprig') and calls `task('name', ...)` (or `app.task('name', ...)`).
 */
import * as vscode from 'vscode';
import { findTaskDefinitions, isTasksFileText, type TaskDefinition } from './task-source.js';

export { definitionAt, findTaskDefinitions, isTasksFileText, taskParameters, type TaskDefinition } from './task-source.js';

const GLOB = '**/*.{ts,mts,cts,js,mjs,cjs}';
const EXCLUDE = '{**/node_modules/**,**/dist/**,**/out/**,**/.sprig/**,**/*.d.ts}';

/** Workspace files that define Sprig tasks. */
export async function findTasksFiles(limit = 2000): Promise<vscode.Uri[]> {
  const uris = await vscode.workspace.findFiles(GLOB, EXCLUDE, limit);
  const out: vscode.Uri[] = [];
  await Promise.all(
    uris.map(async (u) => {
      try {
        const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(u));
        if (isTasksFileText(text)) out.push(u);
      } catch {
        /* unreadable: skip */
      }
    }),
  );
  return out.sort((a, b) => a.fsPath.localeCompare(b.fsPath));
}

/** Every task defined in the workspace's tasks files. */
export async function findAllTaskDefinitions(): Promise<TaskDefinition[]> {
  const files = await findTasksFiles();
  const defs: TaskDefinition[] = [];
  for (const f of files) {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === f.toString());
    const text = open ? open.getText() : new TextDecoder().decode(await vscode.workspace.fs.readFile(f));
    defs.push(...findTaskDefinitions(text, f.fsPath));
  }
  return defs;
}

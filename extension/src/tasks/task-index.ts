/**
 * Finds tasks files and task definitions by reading the text (no execution): a tasks file imports
 * from 'sprig-queue' (or its alias 'sprig') and calls `task('name', ...)` (or `app.task('name', ...)`).
 */
import * as vscode from 'vscode';

export interface TaskDefinition {
  name: string;
  file: string;
  /** 0-based line and character of `task(`. */
  line: number;
  character: number;
}

const SPRIG_IMPORT = /(?:from\s+|require\s*\(\s*)['"]sprig(?:-queue)?['"]/;
const TASK_CALL = /\btask\s*\(\s*(['"`])((?:(?!\1)[^\\\n]|\\.)+)\1/g;

export function isTasksFileText(text: string): boolean {
  return SPRIG_IMPORT.test(text) && /\btask\s*\(/.test(text);
}

/** Every `task('name'` in the text, in order. */
export function findTaskDefinitions(text: string, file = ''): TaskDefinition[] {
  if (!isTasksFileText(text)) return [];
  const defs: TaskDefinition[] = [];
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  TASK_CALL.lastIndex = 0;
  for (let m = TASK_CALL.exec(text); m; m = TASK_CALL.exec(text)) {
    const at = m.index;
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    // Skip matches inside line comments.
    const lineText = text.slice(lineStarts[lo], at);
    if (/\/\//.test(lineText)) continue;
    defs.push({ name: m[2]!, file, line: lo, character: at - lineStarts[lo]! });
  }
  return defs;
}

/** The definition the cursor is in or below (the nearest one starting at or above `line`). */
export function definitionAt(defs: readonly TaskDefinition[], line: number): TaskDefinition | undefined {
  let best: TaskDefinition | undefined;
  for (const d of defs) if (d.line <= line) best = d;
  return best ?? defs[0];
}

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

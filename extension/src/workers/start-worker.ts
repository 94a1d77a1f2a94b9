/**
 * "Sprig: Start Worker" starts at once with the answers last given for the tasks file (the active
 * editor's, else the last one used); "Sprig: Start Worker…" asks the four questions (tasks file,
 * queues, concurrency, pool) with those answers as defaults. The answers are kept per tasks file in
 * workspaceState; the first start asks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readSettings, type PoolKind } from '../settings.js';
import { findTasksFiles } from '../tasks/task-index.js';
import type { WorkerSpec } from './worker-process.js';

const LAST_KEY = 'sprig.lastWorker';
/** Tasks file → the answers last given for it. */
const SPECS_KEY = 'sprig.workerSpecs';
const POOLS: ReadonlyArray<{ label: PoolKind; detail: string }> = [
  { label: 'process', detail: 'child processes: isolation, CPU-bound tasks, time limits enforced by killing' },
  { label: 'thread', detail: 'worker threads: lighter than processes, CPU-bound tasks' },
  { label: 'async', detail: 'in the worker process: I/O-bound tasks, high concurrency' },
];

/** The answers last given for a tasks file. */
export function rememberedSpec(state: vscode.Memento, tasksFile: string): WorkerSpec | undefined {
  return state.get<Record<string, WorkerSpec>>(SPECS_KEY, {})[path.resolve(tasksFile)];
}

/**
 * What Start Worker starts without asking: the remembered answers for the active editor's tasks
 * file, else for the last tasks file a worker was started on; none (ask) when there are none or
 * the file is gone.
 */
export function quickWorkerSpec(state: vscode.Memento): WorkerSpec | undefined {
  const active = vscode.window.activeTextEditor?.document;
  const fromEditor = active?.uri.scheme === 'file' ? rememberedSpec(state, active.uri.fsPath) : undefined;
  const last = state.get<WorkerSpec>(LAST_KEY);
  const spec = fromEditor ?? (last ? rememberedSpec(state, last.tasksFile) ?? last : undefined);
  return spec && fs.existsSync(spec.tasksFile) ? spec : undefined;
}

export async function pickWorkerSpec(state: vscode.Memento, preset: Partial<WorkerSpec> = {}): Promise<WorkerSpec | undefined> {
  const s = readSettings();
  const lastUsed = state.get<WorkerSpec>(LAST_KEY);
  let last = lastUsed;
  let tasksFile = preset.tasksFile;
  if (!tasksFile) {
    const files = await findTasksFiles();
    const configured = s.tasksFile ? resolveWorkspacePath(s.tasksFile) : undefined;
    const paths = [...new Set([configured, last?.tasksFile, ...files.map((f) => f.fsPath)].filter((p): p is string => !!p))];
    if (paths.length === 0) {
      void vscode.window.showWarningMessage("No tasks file found: a tasks file imports from 'sprig-queue' and defines tasks with task('name', fn).");
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(
      paths.map((p) => ({ label: vscode.workspace.asRelativePath(p), description: p === lastUsed?.tasksFile ? 'last used' : p === configured ? 'sprig.tasksFile' : undefined, path: p })),
      { title: 'Start Sprig Worker (1/4): tasks file', placeHolder: 'Which tasks file should the worker run?' },
    );
    if (!pick) return undefined;
    tasksFile = pick.path;
  }
  // The defaults that follow are this tasks file's own answers, when it has some.
  last = rememberedSpec(state, tasksFile) ?? last;
  let queues = preset.queues;
  if (!queues) {
    const v = await vscode.window.showInputBox({
      title: 'Start Sprig Worker (2/4): queues',
      prompt: 'Queues to consume from, comma-separated',
      value: last?.queues.join(',') || 'celery',
      validateInput: (x) => (/^\s*[\w.:@-]+(\s*,\s*[\w.:@-]+)*\s*$/.test(x) ? undefined : 'Queue names separated by commas, e.g. celery,emails'),
    });
    if (v === undefined) return undefined;
    queues = v.split(',').map((q) => q.trim()).filter(Boolean);
  }
  let concurrency = preset.concurrency;
  if (concurrency === undefined) {
    const v = await vscode.window.showInputBox({
      title: 'Start Sprig Worker (3/4): concurrency',
      prompt: 'Pool size (0 = default: CPU count, 50 for the async pool)',
      value: String(last?.concurrency ?? s.concurrency ?? 0),
      validateInput: (x) => (/^\d+$/.test(x.trim()) ? undefined : 'A whole number ≥ 0'),
    });
    if (v === undefined) return undefined;
    concurrency = Number(v.trim());
  }
  let pool = preset.pool;
  if (!pool) {
    const def = last?.pool ?? s.pool;
    const pick = await vscode.window.showQuickPick(
      [...POOLS].sort((a, b) => (a.label === def ? -1 : b.label === def ? 1 : 0)),
      { title: 'Start Sprig Worker (4/4): pool' },
    );
    if (!pick) return undefined;
    pool = pick.label;
  }
  const spec: WorkerSpec = { tasksFile, queues, concurrency, pool };
  await rememberSpec(state, spec);
  return spec;
}

export async function rememberSpec(state: vscode.Memento, spec: WorkerSpec): Promise<void> {
  const file = path.resolve(spec.tasksFile);
  await state.update(LAST_KEY, spec);
  await state.update(SPECS_KEY, { ...state.get<Record<string, WorkerSpec>>(SPECS_KEY, {}), [file]: { ...spec, tasksFile: file } });
}

export function resolveWorkspacePath(p: string): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  // path.isAbsolute knows this OS's forms (UNC paths too); resolve takes either separator on Windows.
  if (!folder || path.isAbsolute(p)) return p;
  return path.resolve(folder.uri.fsPath, p);
}

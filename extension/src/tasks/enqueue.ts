/**
 * "Enqueue Task" (palette, editor context menu, CodeLens): pick the task, ask args/kwargs as
 * JSON (validated, last values remembered per task), enqueue, then report the outcome.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Sprig } from '../sprig.js';
import { definitionAt, findAllTaskDefinitions, findTaskDefinitions, type TaskDefinition } from './task-index.js';

const ARGS_KEY = 'sprig.lastArgs';

export interface EnqueueRequest {
  name?: string;
  file?: string;
  /** Given: no prompt. */
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  queue?: string;
  /** Tests: do not wait for the outcome notification. */
  quiet?: boolean;
}

export function validateJson(text: string, kind: 'array' | 'object'): string | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text.trim() === '' ? (kind === 'array' ? '[]' : '{}') : text);
  } catch (err) {
    return `Not valid JSON: ${(err as Error).message}`;
  }
  if (kind === 'array' && !Array.isArray(v)) return 'Positional arguments must be a JSON array, e.g. [2, 3]';
  if (kind === 'object' && (!v || typeof v !== 'object' || Array.isArray(v))) return 'Keyword arguments must be a JSON object, e.g. {"y": 40}';
  return undefined;
}

/** The request from a command argument: a CodeLens object, or a Uri from the editor context menu. */
export function requestFromArg(arg: unknown): EnqueueRequest {
  if (arg instanceof vscode.Uri) {
    const editor = vscode.window.activeTextEditor;
    if (editor && editor.document.uri.toString() === arg.toString()) {
      const d = definitionAt(findTaskDefinitions(editor.document.getText(), arg.fsPath), editor.selection.active.line);
      if (d) return { name: d.name, file: d.file };
    }
    return {};
  }
  if (arg && typeof arg === 'object') return arg as EnqueueRequest;
  if (typeof arg === 'string') return { name: arg };
  return {};
}

export async function enqueueTask(sprig: Sprig, req: EnqueueRequest): Promise<{ taskId: string; name: string } | undefined> {
  let { name, file } = req;
  if (!name) {
    const defs = await findAllTaskDefinitions();
    if (defs.length === 0) {
      void vscode.window.showWarningMessage("No tasks found: define one with task('name', fn) in a file that imports from 'sprig-queue'.");
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(
      defs.map((d: TaskDefinition) => ({ label: d.name, description: `${vscode.workspace.asRelativePath(d.file)}:${d.line + 1}`, def: d })),
      { title: 'Enqueue Sprig Task', placeHolder: 'Which task?', matchOnDescription: true },
    );
    if (!pick) return undefined;
    name = pick.def.name;
    file = pick.def.file;
  }
  const remembered = sprig.context.workspaceState.get<Record<string, { args: string; kwargs: string }>>(ARGS_KEY, {});
  let args = req.args;
  let kwargs = req.kwargs;
  if (!args) {
    const v = await vscode.window.showInputBox({
      title: `Enqueue ${name} (1/2): positional arguments`,
      prompt: 'A JSON array',
      value: remembered[name]?.args ?? '[]',
      validateInput: (x) => validateJson(x, 'array'),
    });
    if (v === undefined) return undefined;
    args = JSON.parse(v.trim() || '[]') as unknown[];
    if (!kwargs) {
      const k = await vscode.window.showInputBox({
        title: `Enqueue ${name} (2/2): keyword arguments`,
        prompt: 'A JSON object',
        value: remembered[name]?.kwargs ?? '{}',
        validateInput: (x) => validateJson(x, 'object'),
      });
      if (k === undefined) return undefined;
      kwargs = JSON.parse(k.trim() || '{}') as Record<string, unknown>;
    }
  }
  kwargs ??= {};
  await sprig.context.workspaceState.update(ARGS_KEY, { ...remembered, [name]: { args: JSON.stringify(args), kwargs: JSON.stringify(kwargs) } });
  const queue = req.queue ?? queueFor(sprig, file);
  const taskId = await sprig.hub.send({ name, args, kwargs, queue });
  const short = taskId.slice(0, 8);
  if (!req.quiet) {
    void vscode.window.showInformationMessage(`Enqueued ${name}[${short}]${queue ? ` on ${queue}` : ''}.`, 'Show in Monitor').then((p) => {
      if (p) void sprig.monitor.reveal(taskId);
    });
    void sprig.hub.waitForTask(taskId, 5 * 60_000).then((t) => {
      if (!t) return;
      const show = (p: string | undefined) => p && void sprig.monitor.reveal(taskId);
      if (t.state === 'SUCCESS') {
        void vscode.window.showInformationMessage(`${name}[${short}] succeeded${t.runtime != null ? ` in ${t.runtime.toFixed(3)} s` : ''}: ${t.result}`, 'Show in Monitor').then(show);
      } else {
        void vscode.window.showErrorMessage(`${name}[${short}] ${t.state.toLowerCase()}: ${t.exception ?? ''}`, 'Show in Monitor').then(show);
      }
    });
  }
  return { taskId, name };
}

/** The first queue of a running worker that runs this tasks file (else the default queue). */
function queueFor(sprig: Sprig, file?: string): string | undefined {
  if (!file) return undefined;
  const w = sprig.workers.running().find((x) => path.resolve(x.launch.spec.tasksFile) === path.resolve(file));
  return w?.launch.spec.queues[0];
}

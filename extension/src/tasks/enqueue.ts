/**
 * "Enqueue Task" (palette, editor context menu, CodeLens): pick the task, ask args/kwargs as
 * JSON (the task's parameters shown, the last call's values filled in), enqueue, then report the
 * outcome (a setting), a failure with a link to its line, and a task no worker can take.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Sprig } from '../sprig.js';
import type { EventHub } from '../monitor/event-hub.js';
import { runtime, type TaskInfo } from '../runtime.js';
import { openLocation } from '../monitor/monitor-view.js';
import { readSettings, type OutcomeNotification } from '../settings.js';
import { parseArgsRepr, parseKwargsRepr } from './pyliteral.js';
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

/** The task definition under the cursor when `uri` is the active editor's document (the editor context menu). */
export function taskUnderCursor(uri: vscode.Uri): { name?: string; file?: string } {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.uri.toString() !== uri.toString()) return {};
  const d = definitionAt(findTaskDefinitions(editor.document.getText(), uri.fsPath), editor.selection.active.line);
  return d ? { name: d.name, file: d.file } : {};
}

/** The request from a command argument: a CodeLens object, or a Uri from the editor context menu. */
export function requestFromArg(arg: unknown): EnqueueRequest {
  if (arg instanceof vscode.Uri) return taskUnderCursor(arg);
  if (arg && typeof arg === 'object') return arg as EnqueueRequest;
  if (typeof arg === 'string') return { name: arg };
  return {};
}

export async function enqueueTask(sprig: Sprig, req: EnqueueRequest): Promise<{ taskId: string; name: string } | undefined> {
  let { name, file } = req;
  let def: TaskDefinition | undefined;
  if (!name) {
    const defs = await findAllTaskDefinitions();
    if (defs.length === 0) {
      void vscode.window.showWarningMessage("No tasks found: define one with task('name', fn) in a file that imports from 'sprig-queue'.");
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(
      defs.map((d: TaskDefinition) => ({ label: d.name, description: `${d.params ? `(${d.params.join(', ')}) · ` : ''}${vscode.workspace.asRelativePath(d.file)}:${d.line + 1}`, def: d })),
      { title: 'Enqueue Sprig Task', placeHolder: 'Which task?', matchOnDescription: true },
    );
    if (!pick) return undefined;
    def = pick.def;
    name = def.name;
    file = def.file;
  }
  let args = req.args;
  let kwargs = req.kwargs;
  if (!args) {
    def ??= file ? definitionIn(file, name) : undefined;
    const last = lastCall(sprig.context.workspaceState.get<Record<string, { args: string; kwargs: string }>>(ARGS_KEY, {})[name], sprig.hub, name);
    const signature = def?.params ? `${name}(${def.params.join(', ')})` : name;
    const v = await vscode.window.showInputBox({
      title: `Enqueue ${name} (1/2): positional arguments`,
      prompt: `${signature}: the positional arguments as a JSON array`,
      placeHolder: def?.params ? `[${def.params.map(paramName).join(', ')}]` : '[2, 3]',
      value: last?.args ?? '[]',
      validateInput: (x) => validateJson(x, 'array'),
    });
    if (v === undefined) return undefined;
    args = JSON.parse(v.trim() || '[]') as unknown[];
    if (!kwargs) {
      const k = await vscode.window.showInputBox({
        title: `Enqueue ${name} (2/2): keyword arguments`,
        prompt: `${signature}: keyword arguments as a JSON object (they reach the task as a last object argument)`,
        value: last?.kwargs ?? '{}',
        validateInput: (x) => validateJson(x, 'object'),
      });
      if (k === undefined) return undefined;
      kwargs = JSON.parse(k.trim() || '{}') as Record<string, unknown>;
    }
  }
  kwargs ??= {};
  const remembered = sprig.context.workspaceState.get<Record<string, { args: string; kwargs: string }>>(ARGS_KEY, {});
  await sprig.context.workspaceState.update(ARGS_KEY, { ...remembered, [name]: { args: JSON.stringify(args), kwargs: JSON.stringify(kwargs) } });
  const queue = req.queue ?? queueFor(sprig, file);
  const taskId = await sprig.hub.send({ name, args, kwargs, queue });
  const short = taskId.slice(0, 8);
  if (!req.quiet) {
    const taskName = name;
    void vscode.window.showInformationMessage(`Enqueued ${name}[${short}]${queue ? ` on ${queue}` : ''}.`, 'Show in Monitor').then((p) => {
      if (p) void sprig.monitor.reveal(taskId);
    });
    // Not received after a few seconds: a worker may be missing (or on another broker).
    setTimeout(() => {
      void noConsumerWarning(sprig.hub, taskId, queue).then((text) => {
        if (!text) return;
        void vscode.window.showWarningMessage(text, 'Start Worker').then((p) => {
          if (p) void vscode.commands.executeCommand('sprig.startWorker');
        });
      });
    }, NO_CONSUMER_AFTER_MS);
    void sprig.hub.waitForTask(taskId, 5 * 60_000).then((t) => {
      const n = t && outcomeNotification(t, taskName, readSettings().notifyTaskOutcome);
      if (!n) return;
      const show = n.error ? vscode.window.showErrorMessage : vscode.window.showInformationMessage;
      const buttons = n.location ? ['Go to Error', 'Show in Monitor'] : ['Show in Monitor'];
      void show(n.text, ...buttons).then((p) => {
        if (p === 'Go to Error' && n.location) void openLocation(n.location.file, n.location.line, n.location.column);
        else if (p) void sprig.monitor.reveal(taskId);
      });
    });
  }
  return { taskId, name };
}

const NO_CONSUMER_AFTER_MS = 3000;

export interface OutcomeMessage {
  text: string;
  error: boolean;
  /** Where a failure happened in the user's code (the first such frame of its traceback). */
  location?: { file: string; line: number; column: number };
}

/** The notification for a task's outcome, per the `sprig.notifyTaskOutcome` setting (undefined: none). */
export function outcomeNotification(t: TaskInfo, name: string, setting: OutcomeNotification): OutcomeMessage | undefined {
  const short = t.uuid.slice(0, 8);
  if (t.state === 'SUCCESS') {
    if (setting !== 'always') return undefined;
    return { text: `${name}[${short}] succeeded${t.runtime != null ? ` in ${t.runtime.toFixed(3)} s` : ''}: ${t.result}`, error: false };
  }
  if (setting === 'never') return undefined;
  const location = runtime().firstUserLocation(t.traceback);
  const where = location ? ` (${path.basename(location.file)}:${location.line})` : '';
  return { text: `${name}[${short}] ${t.state.toLowerCase()}: ${t.exception ?? ''}${where}`, error: true, location };
}

/**
 * When the task has not reached a worker yet and no worker that answers consumes its queue, the
 * warning to show (remote control `active_queues`, the same on every broker); else undefined.
 */
export async function noConsumerWarning(hub: EventHub, taskId: string, queue: string | undefined): Promise<string | undefined> {
  const t = hub.state.tasks.get(taskId);
  if (t && t.state !== 'PENDING') return undefined;
  try {
    const { app, target } = await hub.connection();
    const q = queue ?? (await app.config()).defaultQueue ?? 'celery';
    const consumers = await app.control.consumers();
    if ([...consumers.values()].some((qs) => qs.includes(q))) return undefined;
    const now = hub.state.tasks.get(taskId);
    if (now && now.state !== 'PENDING') return undefined; // received while the workers answered
    const others = consumers.size ? ` (workers on it: ${[...consumers].map(([h, qs]) => `${h} on ${qs.join(', ')}`).join('; ')})` : '';
    return `No worker consumes queue "${q}" on ${target.displayUrl}${others}: ${t?.name ?? 'the task'}[${taskId.slice(0, 8)}] waits there until one does.`;
  } catch {
    return undefined;
  }
}

/** `a: number` → `a`, `opts?: {...}` → `opts`, `...rest: T[]` → `...rest`. */
function paramName(p: string): string {
  return /^(\.\.\.)?[\w$]+/.exec(p)?.[0] ?? p;
}

/** The definition of `name` in `file` (the open document's text, else the file on disk). */
function definitionIn(file: string, name: string): TaskDefinition | undefined {
  const open = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === file);
  let text: string;
  try {
    text = open ? open.getText() : fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return findTaskDefinitions(text, file).find((d) => d.name === name);
}

/**
 * The values to fill in: what this window last sent for the task, else the last call of it the
 * monitor saw (its exact arguments if this window sent it, else read back from its event).
 */
export function lastCall(remembered: { args: string; kwargs: string } | undefined, hub: EventHub, name: string): { args: string; kwargs: string } | undefined {
  if (remembered) return remembered;
  const seen = [...hub.state.tasks.values()].reverse().find((t) => t.name === name);
  if (!seen) return undefined;
  const sent = hub.sentCall(seen.uuid);
  if (sent) return { args: JSON.stringify(sent.args), kwargs: JSON.stringify(sent.kwargs) };
  try {
    return { args: JSON.stringify(parseArgsRepr(seen.args)), kwargs: JSON.stringify(parseKwargsRepr(seen.kwargs)) };
  } catch {
    return undefined; // cut or not readable: nothing to fill in
  }
}

/** The first queue of a running worker that runs this tasks file (else the default queue). */
function queueFor(sprig: Sprig, file?: string): string | undefined {
  if (!file) return undefined;
  const w = sprig.workers.running().find((x) => path.resolve(x.launch.spec.tasksFile) === path.resolve(file));
  return w?.launch.spec.queues[0];
}

/**
 * "Debug Task" and "Debug Worker": the runtime's own CLI run under VS Code's JavaScript debugger
 * (js-debug, built into VS Code and code-server: configuration type `node`). Debug Task launches
 * `sprig run-task NAME --app FILE --args JSON`: one task in one process, with the ctx a worker
 * gives it; Debug Worker launches `sprig worker` so a breakpoint hits whichever client sends the
 * task. The tasks file is built with inline source maps (runtime/src/app/loader.ts), so breakpoints
 * set in the `.ts` file bind; js-debug attaches to pool children and threads by itself.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Sprig } from '../sprig.js';
import { cliPath, runtime } from '../runtime.js';
import { readSettings } from '../settings.js';
import { lastCall, taskUnderCursor, validateJson } from '../tasks/enqueue.js';
import { argsOf } from '../tasks/task-actions.js';
import { findAllTaskDefinitions, findTaskDefinitions, findTasksFiles, type TaskDefinition } from '../tasks/task-index.js';
import { rememberedSpec } from '../workers/start-worker.js';
import { workerArgs, type WorkerSpec } from '../workers/worker-process.js';
import { UntrustedWorkspaceError } from '../workers/worker-manager.js';

/** The marker a Sprig debug configuration carries (tests and the tracker find the session by it). */
export const SPRIG_DEBUG_KEY = '__sprig';

export interface DebugTaskRequest {
  name?: string;
  file?: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  /** A run seen in the monitor: its exact arguments, its id and retries. */
  taskId?: string;
}

export interface DebugStarted {
  /** The configuration's name (unique per start). */
  name: string;
  /** Debug Worker: the worker's hostname. */
  hostname?: string;
}

let seq = 0;

/** `node` on PATH, else this host's own binary run as Node (Electron's needs ELECTRON_RUN_AS_NODE). */
function nodeRuntime(): { runtimeExecutable?: string; env: Record<string, string> } {
  const names = process.platform === 'win32' ? ['node.exe'] : ['node'];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && names.some((n) => fs.existsSync(path.join(dir, n)))) return { env: {} };
  }
  return { runtimeExecutable: process.execPath, env: { ELECTRON_RUN_AS_NODE: '1' } };
}

/** The launch configuration for `sprig <args>` under js-debug. */
async function launchConfig(sprig: Sprig, label: string, file: string, cliArgs: string[], kind: 'task' | 'worker'): Promise<vscode.DebugConfiguration> {
  const target = await sprig.brokerTarget(file);
  await sprig.prepareBroker(target);
  const node = nodeRuntime();
  return {
    type: 'node',
    request: 'launch',
    name: `Sprig: ${label} (${++seq})`,
    program: cliPath(),
    args: cliArgs,
    cwd: target.projectDir,
    ...(node.runtimeExecutable ? { runtimeExecutable: node.runtimeExecutable } : {}),
    env: {
      ...node.env,
      SPRIG_PROJECT_DIR: target.projectDir,
      FORCE_COLOR: '0',
      // A password never shows in the configuration's args.
      ...(target.fromSetting ? { SPRIG_BROKER_URL: target.url } : {}),
    },
    console: 'internalConsole',
    outputCapture: 'std',
    sourceMaps: true,
    // The tasks file is built when the process starts, and run-task runs the task right after:
    // js-debug must pause on that script until its source map has bound the breakpoints.
    pauseForSourceMap: true,
    // The tasks file's build lives in the project's .sprig/build; the runtime's frames are skipped.
    resolveSourceMapLocations: [`${target.projectDir}/**`, '!**/node_modules/**'],
    skipFiles: ['<node_internals>/**', `${path.dirname(cliPath())}/**`],
    autoAttachChildProcesses: true,
    [SPRIG_DEBUG_KEY]: kind,
  };
}

async function start(config: vscode.DebugConfiguration, file: string): Promise<void> {
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file)) ?? vscode.workspace.workspaceFolders?.[0];
  const ok = await vscode.debug.startDebugging(folder, config);
  if (!ok) throw new Error(`the debugger did not start ${config.name} (is the built-in JavaScript debugger, ms-vscode.js-debug, enabled?)`);
}

/** Ask for args, then kwargs, as JSON (validated); the last values given are filled in. */
async function askArguments(name: string, def: TaskDefinition | undefined, last: { args: string; kwargs: string } | undefined): Promise<{ args: unknown[]; kwargs: Record<string, unknown> } | undefined> {
  const signature = def?.params ? `${name}(${def.params.join(', ')})` : name;
  const answers: string[] = [];
  for (const [i, kind] of (['array', 'object'] as const).entries()) {
    const v = await vscode.window.showInputBox({
      title: `Debug ${name} (${i + 1}/2): ${kind === 'array' ? 'positional' : 'keyword'} arguments`,
      prompt: `${signature}: ${kind === 'array' ? 'the positional arguments as a JSON array' : 'keyword arguments as a JSON object'}`,
      value: (kind === 'array' ? last?.args : last?.kwargs) ?? (kind === 'array' ? '[]' : '{}'),
      validateInput: (x) => validateJson(x, kind),
    });
    if (v === undefined) return undefined;
    answers.push(v.trim() || (kind === 'array' ? '[]' : '{}'));
  }
  return { args: JSON.parse(answers[0]!) as unknown[], kwargs: JSON.parse(answers[1]!) as Record<string, unknown> };
}

/** The tasks file that defines `name`: the given one, else the workspace's (read, not run). */
async function locate(name: string | undefined, file: string | undefined): Promise<TaskDefinition | undefined> {
  if (name && file) {
    const text = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === file)?.getText() ?? fs.readFileSync(file, 'utf8');
    return findTaskDefinitions(text, file).find((d) => d.name === name) ?? { name, file, line: 0, character: 0 };
  }
  const defs = await findAllTaskDefinitions();
  if (name) return defs.find((d) => d.name === name);
  if (defs.length === 0) {
    void vscode.window.showWarningMessage("No tasks found: define one with task('name', fn) in a file that imports from 'sprig-queue'.");
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    defs.map((d) => ({ label: d.name, description: `${vscode.workspace.asRelativePath(d.file)}:${d.line + 1}`, d })),
    { title: 'Debug Sprig Task', placeHolder: 'Which task?' },
  );
  return pick?.d;
}

/** Debug Task: with the arguments given, those of a run seen in the monitor (exact), or asked for. */
export async function debugTask(sprig: Sprig, req: DebugTaskRequest): Promise<DebugStarted | undefined> {
  if (!vscode.workspace.isTrusted) throw new UntrustedWorkspaceError();
  let { name, args, kwargs } = req;
  let retries = 0;
  if (req.taskId) {
    const t = sprig.hub.state.tasks.get(req.taskId);
    name ??= sprig.hub.sentCall(req.taskId)?.name ?? t?.name ?? undefined;
    if (!name) throw new Error(`Cannot debug ${req.taskId}: the monitor has not seen its name yet`);
    const exact = await argsOf(sprig, req.taskId, name, { confirmRepr: async (why) => (await vscode.window.showWarningMessage(why, { modal: true }, 'Debug')) === 'Debug' });
    args = exact.args;
    kwargs = exact.kwargs;
    retries = t?.retries ?? 0;
  }
  const def = await locate(name, req.file);
  if (!def) {
    if (name) void vscode.window.showWarningMessage(`No tasks file in this workspace defines the task '${name}'.`);
    return undefined;
  }
  if (!args) {
    // Filled with the last call of it the monitor saw (exact when this window sent it).
    const asked = await askArguments(def.name, def, lastCall(undefined, sprig.hub, def.name));
    if (!asked) return undefined;
    ({ args, kwargs } = asked);
  }
  const cliArgs = ['run-task', def.name, '--app', def.file, '--args', JSON.stringify(args), '--kwargs', JSON.stringify(kwargs ?? {}), '--retries', String(retries)];
  if (req.taskId) cliArgs.push('--id', req.taskId);
  const s = readSettings(vscode.Uri.file(def.file));
  if (s.timeLimit > 0) cliArgs.push('--time-limit', String(s.timeLimit));
  if (s.softTimeLimit > 0) cliArgs.push('--soft-time-limit', String(s.softTimeLimit));
  const config = await launchConfig(sprig, `debug ${def.name}`, def.file, cliArgs, 'task');
  await start(config, def.file);
  return { name: config.name };
}

/** Debug Worker: `sprig worker` under the debugger (one pool slot unless told otherwise: steps do not interleave). */
export async function debugWorker(sprig: Sprig, preset: Partial<WorkerSpec> & { tasksFile: string }): Promise<DebugStarted> {
  if (!vscode.workspace.isTrusted) throw new UntrustedWorkspaceError();
  const s = readSettings(vscode.Uri.file(preset.tasksFile));
  const spec: WorkerSpec = { tasksFile: path.resolve(preset.tasksFile), queues: preset.queues ?? [], concurrency: preset.concurrency ?? 1, pool: preset.pool ?? s.pool };
  const base = path.basename(spec.tasksFile).replace(/\.[^.]+$/, '').replace(/[^A-Za-z0-9_-]/g, '-');
  const hostname = `vscode-debug-${base}-${process.pid}-${++seq}@${os.hostname()}`;
  const launch = { spec, projectDir: '', brokerKey: '', brokerDisplayUrl: '', autoreload: false, timeLimit: s.timeLimit, softTimeLimit: s.softTimeLimit, maxTasksPerChild: 0 };
  const args = workerArgs(launch, hostname, runtime().cliFlags('worker')).slice(1);
  const config = await launchConfig(sprig, `debug worker ${path.basename(spec.tasksFile)}`, spec.tasksFile, args, 'worker');
  // Its events come through the broker: the monitor shows its tasks like any worker's.
  sprig.hub.ensureConnected();
  await start(config, spec.tasksFile);
  return { name: config.name, hostname };
}

/**
 * Debug Worker… from the palette: which tasks file (the active editor's first); the queues and
 * pool Start Worker last used for it (else the settings'), one slot. Start Worker's remembered
 * answers are left as they are.
 */
export async function pickDebugWorkerSpec(state: vscode.Memento): Promise<WorkerSpec | undefined> {
  const active = vscode.window.activeTextEditor?.document.uri;
  const files = (await findTasksFiles()).map((u) => u.fsPath).sort((a, b) => (a === active?.fsPath ? -1 : b === active?.fsPath ? 1 : 0));
  if (files.length === 0) {
    void vscode.window.showWarningMessage("No tasks file found: a tasks file imports from 'sprig-queue' and defines tasks with task('name', fn).");
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(files.map((f) => ({ label: vscode.workspace.asRelativePath(f), f })), { title: 'Debug Sprig Worker: tasks file', placeHolder: 'Which tasks file should the worker under the debugger run?' });
  if (!pick) return undefined;
  const last = rememberedSpec(state, pick.f);
  return { tasksFile: pick.f, queues: last?.queues ?? [], concurrency: 1, pool: last?.pool ?? readSettings(vscode.Uri.file(pick.f)).pool };
}

/** The task under the cursor or the request from a CodeLens / monitor row / command argument. */
export function debugRequestFromArg(arg: unknown): DebugTaskRequest {
  if (arg instanceof vscode.Uri) return taskUnderCursor(arg);
  if (typeof arg === 'string') return { taskId: arg };
  return arg && typeof arg === 'object' ? (arg as DebugTaskRequest) : {};
}

/**
 * Every `sprig.*` command. Handlers take optional arguments so they can be driven without the
 * quick picks (CodeLens, monitor rows, tests); without them they ask.
 */
import * as vscode from 'vscode';
import type { Sprig } from './sprig.js';
import { pickWorkerSpec, quickWorkerSpec, rememberSpec } from './workers/start-worker.js';
import { UNTRUSTED_MESSAGE, UntrustedWorkspaceError } from './workers/worker-manager.js';
import type { WorkerProcess, WorkerSpec } from './workers/worker-process.js';
import { enqueueTask, requestFromArg } from './tasks/enqueue.js';
import { purgeQueue, retryTask, revokeTask } from './tasks/task-actions.js';
import { confirmReprInEditor } from './tasks/confirm-repr.js';
import { selectBroker, type SelectBrokerPreset } from './broker/select-broker.js';
import { defaultProjectDir } from './broker/broker-target.js';
import { ensureEmbeddedBroker, isEmbeddedBrokerRunning, stopEmbeddedBroker } from './broker/embedded.js';
import { runtime, type TaskStateName } from './runtime.js';
import { debugRequestFromArg, debugTask, debugWorker, pickDebugWorkerSpec } from './debug/debug-task.js';
import { terminateTask } from './tasks/terminate.js';

export const COMMANDS = [
  'sprig.startWorker',
  'sprig.startWorkerWith',
  'sprig.stopWorker',
  'sprig.restartWorker',
  'sprig.showWorkerOutput',
  'sprig.enqueueTask',
  'sprig.retryTask',
  'sprig.revokeTask',
  'sprig.purgeQueue',
  'sprig.openMonitor',
  'sprig.startEmbeddedBroker',
  'sprig.stopEmbeddedBroker',
  'sprig.selectBroker',
  'sprig.pauseMonitor',
  'sprig.resumeMonitor',
  'sprig.debugTask',
  'sprig.debugWorker',
  'sprig.terminateTask',
  'sprig.openWorkerPage',
] as const;

type Handler = (...args: unknown[]) => unknown;

export function registerCommands(context: vscode.ExtensionContext, sprig: Sprig): void {
  const handlers: Record<(typeof COMMANDS)[number], Handler> = {
    // With no argument: at once, with the answers last given for the tasks file (asks the first time).
    'sprig.startWorker': async (preset?: unknown) => {
      if (!vscode.workspace.isTrusted) return refuseUntrusted();
      const quick = preset === undefined ? quickWorkerSpec(context.workspaceState) : undefined;
      const spec = quick ?? (await pickWorkerSpec(context.workspaceState, (preset ?? {}) as Partial<WorkerSpec>));
      if (!spec) return undefined;
      if (quick) await rememberSpec(context.workspaceState, quick);
      const w = await sprig.workers.start(spec);
      if (quick) explainQuickStart(context, w.label);
      return w.hostname;
    },
    // "Start Worker…": the four questions, the tasks file's last answers as the defaults.
    'sprig.startWorkerWith': async () => {
      if (!vscode.workspace.isTrusted) return refuseUntrusted();
      const spec = await pickWorkerSpec(context.workspaceState);
      if (!spec) return undefined;
      return (await sprig.workers.start(spec)).hostname;
    },
    'sprig.stopWorker': async (which?: unknown) => {
      const w = await pickWorker(sprig, which, 'Stop which worker?', true);
      if (w) await sprig.workers.stop(w);
      return w?.hostname;
    },
    'sprig.restartWorker': async (which?: unknown) => {
      if (!vscode.workspace.isTrusted) return refuseUntrusted();
      const w = await pickWorker(sprig, which, 'Restart which worker?', false);
      if (w) await sprig.workers.restart(w);
      return w?.hostname;
    },
    'sprig.showWorkerOutput': async (which?: unknown) => {
      const w = await pickWorker(sprig, which, 'Show the output of which worker?', false);
      w?.output.show(true);
      return w?.hostname;
    },
    'sprig.enqueueTask': (arg?: unknown) => enqueueTask(sprig, requestFromArg(arg)),
    // A second argument `{ acceptRepr: true }` (callers that have shown the arguments already)
    // skips the question asked before retrying from an event's repr.
    'sprig.retryTask': async (id?: unknown, opts?: unknown) => {
      const taskId = typeof id === 'string' ? id : await pickTask(sprig, 'Retry which task?', (s) => runtime().READY_STATES.has(s));
      if (!taskId) return undefined;
      const acceptRepr = !!opts && typeof opts === 'object' && (opts as { acceptRepr?: unknown }).acceptRepr === true;
      const newId = await retryTask(sprig, taskId, { confirmRepr: acceptRepr ? async () => true : confirmReprInEditor });
      if (typeof id !== 'string') void vscode.window.showInformationMessage(`Retried ${taskId.slice(0, 8)} as ${newId.slice(0, 8)}.`);
      return newId;
    },
    'sprig.revokeTask': async (id?: unknown, terminate?: unknown) => {
      const taskId = typeof id === 'string' ? id : await pickTask(sprig, 'Revoke which task (not started yet)?', (s) => !runtime().READY_STATES.has(s) && s !== 'STARTED');
      if (!taskId) return undefined;
      await revokeTask(sprig, taskId, terminate === true);
      if (typeof id !== 'string') void vscode.window.showInformationMessage(`Revoke sent for ${taskId.slice(0, 8)}.`);
      return true;
    },
    'sprig.purgeQueue': async (q?: unknown) => {
      let queue = typeof q === 'string' ? q : undefined;
      if (!queue) {
        const known = new Set(['celery', ...sprig.workers.list().flatMap((w) => w.launch.spec.queues)]);
        const pick = await vscode.window.showQuickPick([...known].map((label) => ({ label })), { title: 'Purge Sprig Queue', placeHolder: 'Delete every waiting message from which queue?' });
        if (!pick) return undefined;
        const ok = await vscode.window.showWarningMessage(`Delete every waiting message in "${pick.label}"?`, { modal: true }, 'Purge');
        if (ok !== 'Purge') return undefined;
        queue = pick.label;
      }
      const n = await purgeQueue(sprig, queue);
      if (typeof q !== 'string') void vscode.window.showInformationMessage(`Purged ${n} message(s) from ${queue}.`);
      return n;
    },
    'sprig.openMonitor': (taskId?: unknown) => sprig.monitor.reveal(typeof taskId === 'string' ? taskId : undefined),
    'sprig.startEmbeddedBroker': async () => {
      const dir = defaultProjectDir();
      const was = await isEmbeddedBrokerRunning(dir);
      await ensureEmbeddedBroker(dir);
      void vscode.window.showInformationMessage(was ? `The embedded broker for ${dir} is already running.` : `Embedded broker started for ${dir}.`);
      return true;
    },
    'sprig.stopEmbeddedBroker': async () => {
      const dir = defaultProjectDir();
      const stopped = await stopEmbeddedBroker(dir);
      void vscode.window.showInformationMessage(stopped ? 'Embedded broker stopped.' : 'No embedded broker was running for this project.');
      return stopped;
    },
    'sprig.selectBroker': (preset?: unknown) => selectBroker(sprig, preset as SelectBrokerPreset | undefined),
    'sprig.pauseMonitor': () => setPaused(sprig, true),
    'sprig.resumeMonitor': () => setPaused(sprig, false),
    // A running task (a second argument `{ confirmed: true }` skips the confirmation); returns what it said.
    'sprig.terminateTask': async (id?: unknown, opts?: unknown) => {
      const taskId = typeof id === 'string' ? id : await pickTask(sprig, 'Terminate which running task?', (s) => s === 'STARTED');
      if (!taskId) return undefined;
      const confirmed = !!opts && typeof opts === 'object' && (opts as { confirmed?: unknown }).confirmed === true;
      return terminateTask(sprig, taskId, { confirm: async (text) => confirmed || (await vscode.window.showWarningMessage(text, { modal: true }, 'Terminate')) === 'Terminate' });
    },
    // A hostname (a monitor row), else a pick of the workers the monitor knows; returns the hostname.
    'sprig.openWorkerPage': async (which?: unknown) => {
      let hostname = typeof which === 'string' ? which : undefined;
      if (!hostname) {
        const known = [...sprig.hub.state.workers.values()].sort((a, b) => Number(b.online) - Number(a.online));
        if (known.length === 0) {
          void vscode.window.showInformationMessage('The monitor has seen no worker yet: start one (Sprig: Start Worker) or connect to its broker.');
          return undefined;
        }
        hostname = (await vscode.window.showQuickPick(known.map((w) => ({ label: w.hostname, description: w.online ? 'online' : 'offline' })), { placeHolder: 'Open the page of which worker?' }))?.label;
      }
      if (!hostname) return undefined;
      sprig.workerPages.open(hostname);
      return hostname;
    },
    // CodeLens {name, file}, a monitor row's task id, a Uri (editor menu), or nothing (asks).
    'sprig.debugTask': (arg?: unknown) => debugTask(sprig, debugRequestFromArg(arg)),
    // A WorkerSpec preset ({tasksFile, queues, concurrency, pool}), else it asks for the tasks file.
    'sprig.debugWorker': async (preset?: unknown) => {
      if (!vscode.workspace.isTrusted) return refuseUntrusted();
      const p = preset && typeof preset === 'object' && typeof (preset as WorkerSpec).tasksFile === 'string' ? (preset as WorkerSpec) : await pickDebugWorkerSpec(context.workspaceState);
      return p ? debugWorker(sprig, p) : undefined;
    },
  };
  for (const id of COMMANDS) {
    const h = handlers[id];
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await h(...args);
        } catch (err) {
          if (err instanceof UntrustedWorkspaceError) return refuseUntrusted();
          void vscode.window.showErrorMessage(`Sprig: ${(err as Error).message}`);
          throw err;
        }
      }),
    );
  }
}

/** The first start without questions says once how to change the answers. */
function explainQuickStart(context: vscode.ExtensionContext, label: string): void {
  const key = 'sprig.quickStartExplained';
  if (context.globalState.get<boolean>(key)) {
    vscode.window.setStatusBarMessage(`$(pulse) Sprig: worker ${label} started with its last settings`, 5000);
    return;
  }
  void context.globalState.update(key, true);
  void vscode.window.showInformationMessage(`Sprig: worker ${label} started with the answers you gave last time. "Sprig: Start Worker…" asks again.`, 'Start Worker…').then((pick) => {
    if (pick) void vscode.commands.executeCommand('sprig.startWorkerWith');
  });
}

function setPaused(sprig: Sprig, paused: boolean): void {
  sprig.monitor.setPaused(paused);
}

function refuseUntrusted(): undefined {
  void vscode.window.showWarningMessage(UNTRUSTED_MESSAGE, 'Manage Workspace Trust').then((pick) => {
    if (pick) void vscode.commands.executeCommand('workbench.trust.manage');
  });
  return undefined;
}

/** The worker named by `which` (hostname, tasks file or WorkerProcess key), else the only one, else a pick. */
async function pickWorker(sprig: Sprig, which: unknown, placeHolder: string, runningOnly: boolean): Promise<WorkerProcess | undefined> {
  const all = runningOnly ? sprig.workers.running() : sprig.workers.list();
  if (typeof which === 'string') return all.find((w) => w.hostname === which || w.key === which || w.launch.spec.tasksFile === which);
  if (all.length === 0) {
    void vscode.window.showInformationMessage(runningOnly ? 'No Sprig worker is running in this window.' : 'This window has started no Sprig worker.');
    return undefined;
  }
  if (all.length === 1) return all[0];
  const pick = await vscode.window.showQuickPick(
    all.map((w) => ({ label: w.label, description: `${w.state} · ${w.hostname}`, w })),
    { placeHolder },
  );
  return pick?.w;
}

async function pickTask(sprig: Sprig, placeHolder: string, filter: (state: TaskStateName) => boolean): Promise<string | undefined> {
  const tasks = [...sprig.hub.state.tasks.values()].filter((t) => filter(t.state)).reverse().slice(0, 500);
  if (tasks.length === 0) {
    void vscode.window.showInformationMessage('The monitor has seen no such task yet.');
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    tasks.map((t) => ({ label: `${t.name ?? '?'} ${t.uuid.slice(0, 8)}`, description: t.state, detail: `${t.args ?? ''} ${t.worker ?? ''}`, id: t.uuid })),
    { placeHolder, matchOnDetail: true },
  );
  return pick?.id;
}

/**
 * The extension's services, each made on first use so activation stays cheap: the event hub
 * (broker connection + ClusterState) and the worker manager.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ensureEmbeddedBroker } from './broker/embedded.js';
import { resolveBrokerTarget, type BrokerTarget } from './broker/broker-target.js';
import { EventHub } from './monitor/event-hub.js';
import { MonitorViewProvider } from './monitor/monitor-view.js';
import { WorkerManager } from './workers/worker-manager.js';
import { readSettings } from './settings.js';
import { resolveWorkspacePath } from './workers/start-worker.js';
import { editAndRun, retryMany, retryTask, revokeTask } from './tasks/task-actions.js';
import { confirmReprInEditor, confirmRetryMany, editCallInBox } from './tasks/confirm-repr.js';
import { offerToIgnoreSprigFolder } from './workspace/gitignore.js';
import { terminateTask } from './tasks/terminate.js';
import { debugTask } from './debug/debug-task.js';
import { WorkerPages } from './workers/worker-page.js';

/** A modal confirmation with one button (Terminate). */
async function confirmModal(text: string): Promise<boolean> {
  return (await vscode.window.showWarningMessage(text, { modal: true }, 'Terminate')) === 'Terminate';
}

/** What a broker change does to the workers still running on the old broker. */
export type OnBrokerChange = 'ask' | 'restart' | 'leave';

export class Sprig implements vscode.Disposable {
  private hubP?: EventHub;
  private workersP?: WorkerManager;
  private pagesP?: WorkerPages;
  readonly monitor: MonitorViewProvider;
  /** The broker the last change applied to (the full URL, in memory only). */
  private appliedBroker?: string;
  private brokerChange: Promise<void> = Promise.resolve();

  constructor(readonly context: vscode.ExtensionContext) {
    this.monitor = new MonitorViewProvider(context.extensionUri, () => this.hub, () => ({
      retry: (id) => retryTask(this, id, { confirmRepr: confirmReprInEditor }),
      revoke: async (id, terminate) => (terminate ? (await terminateTask(this, id, { confirm: confirmModal })).sent : revokeTask(this, id, false)),
      debug: async (id) => !!(await debugTask(this, { taskId: id })),
      openWorkerPage: (hostname) => void this.workerPages.open(hostname),
      editAndRun: (id) => editAndRun(this, id, editCallInBox),
      retryMany: (ids) => retryMany(this, ids, confirmRetryMany),
      scheduleFiles: () => {
        const setting = readSettings().tasksFile;
        return [...new Set([...(setting ? [resolveWorkspacePath(setting)] : []), ...this.workers.list().map((w) => path.resolve(w.launch.spec.tasksFile))])];
      },
    }));
  }

  get hub(): EventHub {
    if (!this.hubP) {
      this.hubP = new EventHub(() => this.brokerTarget(), (t) => this.prepareBroker(t), readSettings().eventsBuffer);
      this.hubP.onWorkerStatus((s) => this.workersP?.onWorkerStatus(s.hostname, s.active, s.processed));
    }
    return this.hubP;
  }

  /** A page per worker (stats, registered tasks, queues, config; the control commands). */
  get workerPages(): WorkerPages {
    return (this.pagesP ??= new WorkerPages(this.context.extensionUri, () => this.hub));
  }

  get workers(): WorkerManager {
    if (!this.workersP) {
      this.workersP = new WorkerManager({
        prepareBroker: async (file) => {
          const t = await this.brokerTarget(file);
          await this.prepareBroker(t);
          // The monitor and status-bar counts follow the broker's events from now on.
          this.hub.ensureConnected();
          return t;
        },
      });
      // A worker on Redis or AMQP makes .sprig/ only when it builds the tasks file.
      this.workersP.onDidChange(() => {
        for (const w of this.workersP!.running()) if (w.state === 'running') this.offerGitignore(w.launch.projectDir);
      });
    }
    return this.workersP;
  }

  brokerTarget(hint?: string): Promise<BrokerTarget> {
    return resolveBrokerTarget(this.context.secrets, hint);
  }

  /** For `sprig://`: make sure the project's embedded broker runs (a start failure is told here, not by a crashed worker). */
  async prepareBroker(t: BrokerTarget): Promise<void> {
    if (t.embedded) await ensureEmbeddedBroker(t.projectDir);
    this.offerGitignore(t.projectDir);
  }

  /** `.sprig/` is made by the broker and by a worker's build: offer to ignore it in git. */
  private offerGitignore(dir: string): void {
    if (vscode.workspace.isTrusted) void offerToIgnoreSprigFolder(dir, this.context.workspaceState).catch(() => undefined);
  }

  /** Settings changed: a new broker means a new connection; a new buffer size trims the state. */
  onConfigurationChanged(e: vscode.ConfigurationChangeEvent): void {
    if (e.affectsConfiguration('sprig.brokerUrl')) void this.brokerChanged('ask');
    if (e.affectsConfiguration('sprig.eventsBuffer')) this.hubP?.setMaxTasks(readSettings().eventsBuffer);
  }

  /**
   * The broker setting changed (Select Broker, or settings.json by hand). The monitor connects to
   * the new broker and forgets the old one's state; the workers this window runs on the old broker
   * are restarted on the new one, or the user is asked (`how`). Changes are applied one at a time;
   * a second call for the broker already applied only moves workers when told to restart.
   */
  brokerChanged(how: OnBrokerChange): Promise<void> {
    const next = this.brokerChange.then(async () => {
      const t = await this.brokerTarget();
      const changed = t.url !== this.appliedBroker;
      this.appliedBroker = t.url;
      if (changed) await this.hubP?.reset();
      this.workersP?.setCurrentBroker(t.url);
      if (!changed && how === 'ask') return;
      const stale = this.workersP?.onOtherBroker(t.url) ?? [];
      if (stale.length === 0) return;
      if (how === 'restart') await Promise.all(stale.map((w) => this.workers.restart(w)));
      else if (how === 'ask') void this.offerRestart(t);
    });
    this.brokerChange = next.catch(() => undefined);
    return next;
  }

  private async offerRestart(t: BrokerTarget): Promise<void> {
    const stale = this.workers.onOtherBroker(t.url);
    const names = stale.map((w) => w.label).join(', ');
    const pick = await vscode.window.showWarningMessage(
      `${stale.length === 1 ? `The Sprig worker ${names} still runs` : `${stale.length} Sprig workers (${names}) still run`} on ${stale[0]!.launch.brokerDisplayUrl}; tasks are now sent to ${t.displayUrl}. Restart ${stale.length === 1 ? 'it' : 'them'} on the new broker?`,
      'Restart Workers',
    );
    if (pick !== 'Restart Workers') return;
    // Asked again now: the broker may have changed again while the question was up.
    const current = await this.brokerTarget();
    await Promise.all(this.workers.onOtherBroker(current.url).map((w) => this.workers.restart(w))).catch((err: Error) =>
      vscode.window.showErrorMessage(`Sprig: ${err.message}`),
    );
  }

  async dispose(): Promise<void> {
    this.monitor.dispose();
    this.pagesP?.dispose();
    await this.workersP?.dispose();
    await this.hubP?.dispose();
  }
}

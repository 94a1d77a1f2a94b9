/**
 * The extension's services, each made on first use so activation stays cheap: the event hub
 * (broker connection + ClusterState) and the worker manager.
 */
import * as vscode from 'vscode';
import { ensureEmbeddedBroker } from './broker/embedded.js';
import { resolveBrokerTarget, type BrokerTarget } from './broker/broker-target.js';
import { EventHub } from './monitor/event-hub.js';
import { MonitorViewProvider } from './monitor/monitor-view.js';
import { WorkerManager } from './workers/worker-manager.js';
import { readSettings } from './settings.js';
import { retryTask, revokeTask } from './tasks/task-actions.js';
import { confirmReprInEditor } from './tasks/confirm-repr.js';

export class Sprig implements vscode.Disposable {
  private hubP?: EventHub;
  private workersP?: WorkerManager;
  readonly monitor: MonitorViewProvider;

  constructor(readonly context: vscode.ExtensionContext) {
    this.monitor = new MonitorViewProvider(context.extensionUri, () => this.hub, () => ({
      retry: (id) => retryTask(this, id, { confirmRepr: confirmReprInEditor }),
      revoke: (id, terminate) => revokeTask(this, id, terminate),
    }));
  }

  get hub(): EventHub {
    if (!this.hubP) {
      this.hubP = new EventHub(() => this.brokerTarget(), (t) => this.prepareBroker(t), readSettings().eventsBuffer);
      this.hubP.onWorkerStatus((s) => this.workersP?.onWorkerStatus(s.hostname, s.active, s.processed));
    }
    return this.hubP;
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
    }
    return this.workersP;
  }

  brokerTarget(hint?: string): Promise<BrokerTarget> {
    return resolveBrokerTarget(this.context.secrets, hint);
  }

  /** For `sprig://`: make sure the project's embedded broker runs (a start failure is told here, not by a crashed worker). */
  async prepareBroker(t: BrokerTarget): Promise<void> {
    if (t.embedded) await ensureEmbeddedBroker(t.projectDir);
  }

  /** Settings changed: a new broker means a new connection; a new buffer size trims the state. */
  onConfigurationChanged(e: vscode.ConfigurationChangeEvent): void {
    if (e.affectsConfiguration('sprig.brokerUrl')) void this.hubP?.reset();
    if (e.affectsConfiguration('sprig.eventsBuffer')) this.hubP?.setMaxTasks(readSettings().eventsBuffer);
  }

  async dispose(): Promise<void> {
    this.monitor.dispose();
    await this.workersP?.dispose();
    await this.hubP?.dispose();
  }
}

/**
 * The workers this window runs: several at once (one per tasks file / queue set), each with an
 * output channel and a status-bar item. A crash raises a notification with Restart; all stop on
 * deactivate; none starts in an untrusted workspace.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readSettings } from '../settings.js';
import { runtime } from '../runtime.js';
import { WorkerProcess, workerKey, type WorkerSpec } from './worker-process.js';
import type { BrokerTarget } from '../broker/broker-target.js';

export const UNTRUSTED_MESSAGE =
  'Sprig does not start workers in an untrusted workspace: a worker runs the code of your tasks files. Trust this workspace to start workers.';

export class UntrustedWorkspaceError extends Error {
  constructor() {
    super(UNTRUSTED_MESSAGE);
    this.name = 'UntrustedWorkspaceError';
  }
}

export interface WorkerManagerDeps {
  /** Resolve (and, for sprig://, start) the broker the worker will use. */
  prepareBroker(tasksFile: string): Promise<BrokerTarget>;
}

export class WorkerManager implements vscode.Disposable {
  private readonly workers = new Map<string, WorkerProcess>();
  private readonly items = new Map<string, vscode.StatusBarItem>();
  private readonly byHost = new Map<string, WorkerProcess>();
  private flags?: ReadonlySet<string>;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly deps: WorkerManagerDeps) {}

  list(): WorkerProcess[] {
    return [...this.workers.values()];
  }

  running(): WorkerProcess[] {
    return this.list().filter((w) => w.running);
  }

  byHostname(hostname: string): WorkerProcess | undefined {
    return this.byHost.get(hostname);
  }

  /**
   * The long flags the runtime's `sprig worker` accepts (so a flag is passed only where it exists),
   * from the command's definition in the runtime this extension ships and spawns.
   */
  workerFlags(): ReadonlySet<string> {
    return (this.flags ??= runtime().cliFlags('worker'));
  }

  async start(spec: WorkerSpec): Promise<WorkerProcess> {
    if (!vscode.workspace.isTrusted) throw new UntrustedWorkspaceError();
    const key = workerKey(spec);
    const existing = this.workers.get(key);
    if (existing?.running) return existing;
    const s = readSettings(vscode.Uri.file(spec.tasksFile));
    const target = await this.deps.prepareBroker(spec.tasksFile);
    const flags = this.workerFlags();
    const launch = {
      spec: { ...spec, tasksFile: path.resolve(spec.tasksFile) },
      projectDir: target.projectDir,
      brokerUrl: target.fromSetting ? target.url : undefined,
      autoreload: s.autoreload,
      timeLimit: s.timeLimit,
      softTimeLimit: s.softTimeLimit,
      maxTasksPerChild: s.maxTasksPerChild,
    };
    let w = existing;
    if (w) w.launch = launch;
    else {
      w = new WorkerProcess(launch);
      this.workers.set(key, w);
      this.byHost.set(w.hostname, w);
      w.onDidChange(() => this.render(w!));
      w.onDidCrash(() => void this.notifyCrash(w!));
    }
    w.start(flags);
    this.render(w);
    return w;
  }

  async stop(w: WorkerProcess): Promise<void> {
    await w.stop();
    this.render(w);
  }

  async restart(w: WorkerProcess): Promise<WorkerProcess> {
    if (!vscode.workspace.isTrusted) throw new UntrustedWorkspaceError();
    await w.stop();
    w.start(this.workerFlags());
    return w;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.list().map((w) => w.stop()));
  }

  /** A heartbeat/online/offline event from the broker: counts for our own workers' status items. */
  onWorkerStatus(hostname: string, active: number, processed: number): void {
    this.byHost.get(hostname)?.updateCounts(active, processed);
  }

  private async notifyCrash(w: WorkerProcess): Promise<void> {
    const pick = await vscode.window.showErrorMessage(
      `Sprig worker ${w.label} exited unexpectedly (code ${w.exitCode}).`,
      'Restart',
      'Show Output',
    );
    if (pick === 'Restart') await this.restart(w).catch((err: Error) => vscode.window.showErrorMessage(err.message));
    else if (pick === 'Show Output') w.output.show(true);
  }

  private render(w: WorkerProcess): void {
    let item = this.items.get(w.key);
    if (!item) {
      item = vscode.window.createStatusBarItem(`sprig.worker.${this.items.size}`, vscode.StatusBarAlignment.Left, 50);
      item.name = 'Sprig Worker';
      item.command = 'sprig.openMonitor';
      this.items.set(w.key, item);
    }
    const icon = { starting: '$(loading~spin)', running: '$(pulse)', stopping: '$(loading~spin)', stopped: '$(debug-stop)', crashed: '$(error)' }[w.state];
    const counts = w.state === 'running' ? ` ${w.active} active · ${w.processed} done` : ` ${w.state}`;
    item.text = `${icon} ${w.label}${counts}`;
    item.tooltip = new vscode.MarkdownString(
      `**Sprig worker** \`${w.hostname}\`\n\n- tasks file: \`${w.launch.spec.tasksFile}\`\n- queues: ${w.launch.spec.queues.join(', ') || 'celery'}\n- pool: ${w.launch.spec.pool}${w.launch.spec.concurrency ? ` ×${w.launch.spec.concurrency}` : ''}\n- state: ${w.state}\n\nClick to open the monitor.`,
    );
    item.backgroundColor = w.state === 'crashed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    if (w.state === 'stopped' && !w.running) item.hide();
    else item.show();
    this.changed.fire();
  }

  async dispose(): Promise<void> {
    await this.stopAll();
    for (const w of this.workers.values()) w.dispose();
    for (const i of this.items.values()) i.dispose();
    this.changed.dispose();
  }
}

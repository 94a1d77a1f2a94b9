/**
 * The workers this window runs: several at once (one per tasks file / queue set), each with an
 * output channel and a status-bar item. A crash raises a notification with Restart; all stop on
 * deactivate; none starts in an untrusted workspace.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readSettings } from '../settings.js';
import { runtime } from '../runtime.js';
import { WorkerProcess, workerKey, type WorkerLaunch, type WorkerSpec } from './worker-process.js';
import type { BrokerTarget } from '../broker/broker-target.js';

export const UNTRUSTED_MESSAGE =
  'Sprig does not start workers in an untrusted workspace: a worker runs the code of your tasks files. Trust this workspace to start workers.';

export class UntrustedWorkspaceError extends Error {
  constructor() {
    super(UNTRUSTED_MESSAGE);
    this.name = 'UntrustedWorkspaceError';
  }
}

/** The crash notification's text: a signal by its name (SIGKILL: often the OOM killer), else the exit code. */
export function crashMessage(w: Pick<WorkerProcess, 'label' | 'exitCode' | 'exitSignal' | 'tasksFileError'>): string {
  if (w.tasksFileError) return `Sprig worker ${w.label} could not load its tasks file: ${w.tasksFileError.message}`;
  if (w.exitSignal) {
    const why = w.exitSignal === 'SIGKILL' ? ' (killed: out of memory, or by another process)' : '';
    return `Sprig worker ${w.label} was killed by ${w.exitSignal}${why}.`;
  }
  return `Sprig worker ${w.label} exited unexpectedly with code ${w.exitCode ?? 'unknown'}.`;
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
  private currentBroker?: string;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  /** A tasks file that does not build or load, on its line (from the workers that run it). */
  readonly diagnostics = vscode.languages.createDiagnosticCollection('sprig');

  constructor(private readonly deps: WorkerManagerDeps) {}

  /** The worker's status-bar item (tests read its text). */
  statusBarItem(w: WorkerProcess): vscode.StatusBarItem | undefined {
    return this.items.get(w.key);
  }

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
    const launch = await this.launchFor(spec);
    let w = existing;
    if (w) w.launch = launch;
    else {
      w = new WorkerProcess(launch);
      this.workers.set(key, w);
      this.byHost.set(w.hostname, w);
      w.onDidChange(() => this.render(w!));
      w.onDidCrash(() => void this.notifyCrash(w!));
    }
    w.start(this.workerFlags());
    this.render(w);
    return w;
  }

  /** How to start a worker on `spec` now: the settings and the broker as they are at this moment. */
  private async launchFor(spec: WorkerSpec): Promise<WorkerLaunch> {
    const s = readSettings(vscode.Uri.file(spec.tasksFile));
    const target = await this.deps.prepareBroker(spec.tasksFile);
    return {
      spec: { ...spec, tasksFile: path.resolve(spec.tasksFile) },
      projectDir: target.projectDir,
      brokerUrl: target.fromSetting ? target.url : undefined,
      brokerKey: target.url,
      brokerDisplayUrl: target.displayUrl,
      autoreload: s.autoreload,
      timeLimit: s.timeLimit,
      softTimeLimit: s.softTimeLimit,
      maxTasksPerChild: s.maxTasksPerChild,
    };
  }

  async stop(w: WorkerProcess): Promise<void> {
    await w.stop();
    this.render(w);
  }

  /** Stop, then start on the broker and settings of now (after Select Broker: the new broker). */
  async restart(w: WorkerProcess): Promise<WorkerProcess> {
    if (!vscode.workspace.isTrusted) throw new UntrustedWorkspaceError();
    const launch = await this.launchFor(w.launch.spec);
    await w.stop();
    w.launch = launch;
    w.start(this.workerFlags());
    this.render(w);
    return w;
  }

  /** The broker the window uses now: workers still on another one are marked in the status bar. */
  setCurrentBroker(url: string): void {
    this.currentBroker = url;
    for (const w of this.workers.values()) this.render(w);
  }

  /** Running workers started on another broker than `url`. */
  onOtherBroker(url: string): WorkerProcess[] {
    return this.running().filter((w) => w.launch.brokerKey !== url);
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
      crashMessage(w),
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
      this.items.set(w.key, item);
    }
    const oldBroker = w.running && this.currentBroker !== undefined && w.launch.brokerKey !== this.currentBroker;
    const loadError = w.tasksFileError;
    const icon = loadError ? '$(error)' : oldBroker ? '$(warning)' : { starting: '$(loading~spin)', running: '$(pulse)', stopping: '$(loading~spin)', stopped: '$(debug-stop)', crashed: '$(error)' }[w.state];
    const counts = loadError ? (w.running ? ' reload failed' : ' load failed') : w.state === 'running' ? ` ${w.active} active · ${w.processed} done` : ` ${w.state}`;
    item.text = `${icon} ${w.label}${counts}`;
    item.tooltip = new vscode.MarkdownString(
      `**Sprig worker** \`${w.hostname}\`\n\n- tasks file: \`${w.launch.spec.tasksFile}\`\n- queues: ${w.launch.spec.queues.join(', ') || 'celery'}\n- pool: ${w.launch.spec.pool}${w.launch.spec.concurrency ? ` ×${w.launch.spec.concurrency}` : ''}\n- broker: ${w.launch.brokerDisplayUrl}${oldBroker ? ' — **not the broker selected now**: Restart Worker moves it' : ''}\n- state: ${w.state}${loadError ? `\n\n**The tasks file did not ${w.running ? 'reload' : 'load'}**${w.running ? ' (the worker runs the previous code)' : ''}:\n\n\`\`\`\n${loadError.message}\n\`\`\`\n\nClick to go to the error.` : '\n\nClick to open the monitor.'}`,
    );
    item.command = loadError ? { title: 'Go to the error', command: 'vscode.open', arguments: [vscode.Uri.file(loadError.file ?? w.launch.spec.tasksFile), { selection: errorRange(loadError) }] } : 'sprig.openMonitor';
    item.backgroundColor = w.state === 'crashed' || loadError ? new vscode.ThemeColor('statusBarItem.errorBackground') : oldBroker ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    if (w.state === 'stopped' && !w.running) item.hide();
    else item.show();
    this.renderDiagnostics();
    this.changed.fire();
  }

  private renderDiagnostics(): void {
    const byFile = new Map<string, Map<string, vscode.Diagnostic>>();
    for (const w of this.workers.values()) {
      const e = w.tasksFileError;
      if (!e) continue;
      const file = e.file ?? w.launch.spec.tasksFile;
      // The place is in the range; the message without it.
      const text = e.message.replace(/^.+?:\d+:\d+: /, '');
      const d = new vscode.Diagnostic(errorRange(e), `${text} (Sprig worker ${w.label}: ${w.running ? 'still runs the previous code' : 'could not start'})`, vscode.DiagnosticSeverity.Error);
      d.source = 'sprig';
      const list = byFile.get(file) ?? new Map<string, vscode.Diagnostic>();
      list.set(`${d.range.start.line}:${d.range.start.character}:${text}`, d);
      byFile.set(file, list);
    }
    this.diagnostics.clear();
    for (const [file, list] of byFile) this.diagnostics.set(vscode.Uri.file(file), [...list.values()]);
  }

  async dispose(): Promise<void> {
    await this.stopAll();
    for (const w of this.workers.values()) w.dispose();
    for (const i of this.items.values()) i.dispose();
    this.diagnostics.dispose();
    this.changed.dispose();
  }
}

/** 1-based line/column of an error → the editor's 0-based position (line 1 when unknown). */
function errorRange(e: { line?: number; column?: number }): vscode.Range {
  const pos = new vscode.Position(Math.max(0, (e.line ?? 1) - 1), Math.max(0, (e.column ?? 1) - 1));
  return new vscode.Range(pos, pos);
}

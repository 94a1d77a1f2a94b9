/**
 * The "Sprig Monitor" WebviewView: strict CSP with a nonce, resources only from dist/webview via
 * asWebviewUri, one typed protocol (./protocol.ts). The webview rebuilds the ClusterState from a
 * snapshot plus batched events; while hidden it is not kept alive (it gets a fresh snapshot).
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { EventHub } from './event-hub.js';
import { queueRequest } from './queue-requests.js';
import { listSchedules } from './schedule-requests.js';
import { registerTestHooks, testHooksEnabled } from './test-hooks.js';
import {
  encodeTasks,
  isClear,
  isOpenWorkerPage,
  isListQueues,
  isListSchedules,
  isOpenLocation,
  isQueueRequest,
  QUEUE_ACTIONS,
  isReady,
  isRequest,
  isRetryMany,
  isSetPaused,
  type ExtensionNotification,
  type Reply,
  type RequestMap,
  type RequestMethod,
} from './protocol.js';

export interface MonitorActions {
  retry(taskId: string): Promise<string>;
  revoke(taskId: string, terminate: boolean): Promise<boolean>;
  /** Debug Task with the run's exact arguments (false: not started, e.g. cancelled). */
  debug(taskId: string): Promise<boolean>;
  /** A worker row's page button. */
  openWorkerPage(hostname: string): void;
  /** "Edit and run": null when the user cancelled. */
  editAndRun?(taskId: string): Promise<string | null>;
  /** "Retry all FAILURE matching the filter" (confirmed with the count). */
  retryMany?(taskIds: string[]): Promise<{ retried: number; skipped: number; errors: string[] }>;
  /** The tasks files whose schedules the Schedules view lists (the setting's, the workers'). */
  scheduleFiles?(): string[];
}

export class MonitorViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewType = 'sprig.monitor';
  private view?: vscode.WebviewView;
  private readonly disposables: vscode.Disposable[] = [];
  private viewDisposables: vscode.Disposable[] = [];
  paused = false;
  private ready = false;
  private pendingReveal?: string;
  /** Messages posted to the webview (tests read the counts). */
  posted = 0;
  /** The last task a reveal was posted for (tests). */
  revealed?: string;
  private readyEmitter = new vscode.EventEmitter<void>();
  readonly onDidBecomeReady = this.readyEmitter.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly hub: () => EventHub,
    private readonly actions: () => MonitorActions,
  ) {
    // Only under the test launcher (SPRIG_TEST_HOOKS=1) and never in a production build (the
    // constant is false there, so the bundler drops the hooks): a command that feeds synthetic events.
    if (SPRIG_TEST_HOOKS_BUILD && testHooksEnabled()) this.disposables.push(registerTestHooks(hub, () => this.posted));
  }

  get isReady(): boolean {
    return !!this.view && this.ready;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    const dist = vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview');
    view.webview.options = { enableScripts: true, localResourceRoots: [dist] };
    view.webview.html = this.html(view.webview, dist);
    for (const d of this.viewDisposables) d.dispose();
    this.viewDisposables = [
      view.webview.onDidReceiveMessage((m: unknown) => void this.onMessage(m)),
      // Hidden, the webview's page is gone (no retainContextWhenHidden): what is posted now is
      // lost, and it says 'ready' again when it is shown.
      view.onDidChangeVisibility(() => {
        if (!view.visible && this.view === view) this.ready = false;
      }),
      view.onDidDispose(() => {
        if (this.view === view) {
          this.view = undefined;
          this.ready = false;
        }
        for (const d of this.viewDisposables) d.dispose();
        this.viewDisposables = [];
      }),
      this.hub().onBatch((b) => {
        if (!this.paused && this.ready) this.post({ method: 'events', params: { events: b.events, links: b.links } });
      }),
      this.hub().onDidChangeConnection(() => this.postConnection()),
      // Another broker: the webview drops the old broker's workers and tasks.
      this.hub().onDidReset(() => {
        if (this.ready) this.sendSnapshot();
      }),
    ];
  }

  private post(m: ExtensionNotification): void {
    if (!this.view) return;
    this.posted++;
    void this.view.webview.postMessage(m);
  }

  private postConnection(): void {
    const h = this.hub();
    this.post({ method: 'connection', params: { brokerUrl: h.displayUrl, connected: h.connected, error: h.lastError } });
  }

  private sendSnapshot(): void {
    const h = this.hub();
    this.post({
      method: 'snapshot',
      params: {
        state: { workers: [...h.state.workers.values()], tasks: encodeTasks([...h.state.tasks.values()]), eventCount: h.state.eventCount },
        paused: this.paused,
        maxTasks: h.state.maxTasks,
        brokerUrl: h.displayUrl,
        connected: h.connected,
        error: h.lastError,
      },
    });
  }

  private async onMessage(m: unknown): Promise<void> {
    if (isReady(m)) {
      this.ready = true;
      this.sendSnapshot();
      void this.postReveal();
      this.readyEmitter.fire();
    } else if (isOpenLocation(m)) {
      await openLocation(m.params.file, m.params.line, m.params.column);
    } else if (isSetPaused(m)) {
      // The webview's button: the palette's Pause/Resume follow (the context key).
      this.paused = m.params.paused;
      setPausedContext(this.paused);
      if (!this.paused) this.sendSnapshot();
    } else if (isOpenWorkerPage(m)) {
      this.actions().openWorkerPage(m.params.hostname);
    } else if (isClear(m)) {
      this.hub().state.clear();
      this.sendSnapshot();
    } else if (isRequest(m, 'retryTask')) {
      await this.answer(m.id, 'retryTask', async () => ({ newTaskId: await this.actions().retry(m.params.taskId) }));
    } else if (isRequest(m, 'editAndRun')) {
      await this.answer(m.id, 'editAndRun', async () => ({ newTaskId: (await this.actions().editAndRun?.(m.params.taskId)) ?? null }));
    } else if (isRetryMany(m)) {
      await this.answer(m.id, 'retryMany', async () => {
        const r = await this.actions().retryMany?.(m.params.taskIds);
        return { retried: r?.retried ?? 0, skipped: r?.skipped ?? 0, errors: r?.errors ?? [] };
      });
    } else if (isRequest(m, 'revokeTask')) {
      await this.answer(m.id, 'revokeTask', async () => ({ sent: await this.actions().revoke(m.params.taskId, !!m.params.terminate) }));
    } else if (isRequest(m, 'debugTask')) {
      await this.answer(m.id, 'debugTask', async () => ({ started: await this.actions().debug(m.params.taskId) }));
    } else if (isListSchedules(m)) {
      await this.answer(m.id, 'listSchedules', async () => listSchedules((await this.hub().connection()).target, this.actions().scheduleFiles?.() ?? []), false);
    } else if (isListQueues(m)) {
      await this.answer(m.id, 'listQueues', () => queueRequest(this.hub(), m), false);
    } else {
      for (const method of QUEUE_ACTIONS) if (isQueueRequest(m, method)) await this.answer(m.id, method, () => queueRequest(this.hub(), m));
    }
  }

  /** `toast`: an error is shown as a notification too (not for the Queues view's polls). */
  private async answer<M extends RequestMethod>(id: number, _method: M, fn: () => Promise<RequestMap[M]['result']>, toast = true): Promise<void> {
    let reply: Reply<M>;
    try {
      reply = { method: 'reply', id, ok: true, result: await fn() };
    } catch (err) {
      reply = { method: 'reply', id, ok: false, error: (err as Error).message };
      if (toast) void vscode.window.showErrorMessage((err as Error).message);
    }
    this.post(reply as Reply);
  }

  /** Show the view (and select a task in it). */
  async reveal(taskId?: string): Promise<void> {
    if (taskId) this.pendingReveal = taskId;
    if (this.view) this.view.show(true);
    else await vscode.commands.executeCommand(`${MonitorViewProvider.viewType}.focus`);
    if (taskId) await this.postReveal();
  }

  /**
   * Select the pending task in the webview once it can: the page is up and visible, the hub knows
   * the task (a toast's task may not have come back from the broker yet) and the batch that
   * carries it went out before the reveal (the webview selects only rows it has).
   */
  private async postReveal(): Promise<void> {
    const id = this.pendingReveal;
    if (!id || !this.isReady || !this.view?.visible) return; // the next 'ready' posts it
    await this.hub().whenKnown(id, 10_000);
    await this.hub().whenFlushed();
    if (this.pendingReveal !== id || !this.isReady || !this.view?.visible) return;
    this.pendingReveal = undefined;
    this.revealed = id;
    this.post({ method: 'reveal', params: { taskId: id } });
  }

  /** Pause Monitor / Resume Monitor from the palette: the webview's button follows. */
  setPaused(paused: boolean): void {
    this.paused = paused;
    setPausedContext(paused);
    if (!this.ready) return;
    if (paused) this.post({ method: 'paused', params: { paused } });
    else this.sendSnapshot();
  }

  private html(webview: vscode.Webview, dist: vscode.Uri): string {
    const nonce = randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(dist, 'monitor.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(dist, 'monitor.css'));
    const csp = [
      `default-src 'none'`,
      `img-src ${webview.cspSource} data:`,
      `font-src ${webview.cspSource}`,
      `style-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>Sprig Monitor</title>
</head>
<body>
<div id="app" data-nonce="${nonce}"></div>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
  }

  dispose(): void {
    for (const d of this.viewDisposables) d.dispose();
    for (const d of this.disposables) d.dispose();
    this.readyEmitter.dispose();
  }
}

/** Which of Pause Monitor / Resume Monitor the palette offers. */
function setPausedContext(paused: boolean): void {
  void vscode.commands.executeCommand('setContext', 'sprig.monitorPaused', paused);
}

/** Open `file` at a 1-based line and column (a traceback frame). */
export async function openLocation(file: string, line: number, column: number): Promise<void> {
  const uri = /^[a-z][a-z0-9+.-]*:\/\//i.test(file) && !/^[a-z]:\\/i.test(file) ? vscode.Uri.parse(file) : vscode.Uri.file(file);
  const pos = new vscode.Position(Math.max(0, line - 1), Math.max(0, column - 1));
  await vscode.window.showTextDocument(uri, { selection: new vscode.Range(pos, pos), preview: true });
}

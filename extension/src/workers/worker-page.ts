/**
 * A worker's page: a webview panel per worker (any worker on the broker, Sprig or Celery) with its
 * stats, registered tasks, active queues and configuration, read with the remote control's inspect
 * commands; and the `sprig control` commands that change it (pool grow/shrink, autoscale, rate and
 * time limits, shutdown), sent to that worker only. Strict CSP with a nonce; the page's script is
 * dist/webview/worker-page.js; the protocol is ./worker-page-protocol.ts.
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { EventHub } from '../monitor/event-hub.js';
import {
  isPageControl,
  isPageReady,
  isPageRefresh,
  type PageControlReply,
  type PageInfoNotification,
  type WorkerControlMap,
  type WorkerControlMethod,
  type WorkerPageInfo,
} from './worker-page-protocol.js';

/** Seconds a worker has to answer each inspect command. */
const INSPECT_TIMEOUT_S = 2;
/** The page refreshes this often while it is visible. */
const REFRESH_MS = 5000;

export class WorkerPage implements vscode.Disposable {
  readonly panel: vscode.WebviewPanel;
  /** The last reading (tests read it). */
  info?: WorkerPageInfo;
  /** Messages posted to the page (tests read the count). */
  posted = 0;
  ready = false;
  private readonly timer: NodeJS.Timeout;
  private readonly disposables: vscode.Disposable[] = [];
  private refreshing?: Promise<WorkerPageInfo>;

  constructor(
    readonly hostname: string,
    private readonly extensionUri: vscode.Uri,
    private readonly hub: () => EventHub,
    onDispose: () => void,
  ) {
    const dist = vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
    this.panel = vscode.window.createWebviewPanel('sprig.workerPage', `Worker ${hostname.split('@')[0]}`, vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [dist],
    });
    this.panel.webview.html = this.html(this.panel.webview, dist);
    this.disposables.push(
      this.panel.webview.onDidReceiveMessage((m: unknown) => void this.onMessage(m)),
      this.panel.onDidChangeViewState(() => {
        if (this.panel.visible) void this.refresh();
      }),
      this.panel.onDidDispose(() => {
        this.dispose();
        onDispose();
      }),
    );
    this.timer = setInterval(() => {
      if (this.panel.visible && this.ready) void this.refresh();
    }, REFRESH_MS);
  }

  reveal(): void {
    this.panel.reveal();
  }

  /** Ask the worker again (one reading at a time) and post what it said. */
  refresh(): Promise<WorkerPageInfo> {
    return (this.refreshing ??= this.read().finally(() => (this.refreshing = undefined)));
  }

  private async read(): Promise<WorkerPageInfo> {
    const h = this.hostname;
    const info: WorkerPageInfo = { hostname: h, at: Date.now() / 1000, online: false, stats: null, registered: null, activeQueues: null, conf: null, active: null };
    try {
      const { app } = await this.hub().connection();
      const ask = async (method: string) => {
        const replies = await app.control.broadcast(method, { destination: [h], timeout: INSPECT_TIMEOUT_S, limit: 1 });
        const r = replies.find((x) => Object.hasOwn(x, h));
        return r ? r[h] : undefined;
      };
      const [stats, registered, queues, conf, active] = await Promise.all([ask('stats'), ask('registered'), ask('active_queues'), ask('conf'), ask('active')]);
      info.online = stats !== undefined;
      info.stats = isRecord(stats) ? stats : null;
      // Celery answers 'add [rate_limit=10/s]': the name is the first word.
      info.registered = Array.isArray(registered) ? registered.map((n) => String(n).split(' ')[0]!) : null;
      info.activeQueues = Array.isArray(queues) ? queues.flatMap((q) => (isRecord(q) && typeof q.name === 'string' ? [q.name] : [])) : null;
      info.conf = isRecord(conf) ? conf : null;
      info.active = Array.isArray(active) ? active.flatMap((t) => (isRecord(t) && typeof t.id === 'string' ? [{ id: t.id, name: String(t.name ?? t.type ?? '?') }] : [])) : null;
      if (!info.online) info.error = `${h} did not answer within ${INSPECT_TIMEOUT_S} s (stopped, or on another broker)`;
    } catch (err) {
      info.error = (err as Error).message;
    }
    this.info = info;
    this.post({ method: 'info', params: info });
    return info;
  }

  /**
   * Send one control command to this worker and return its answer (`ok` text, or its error).
   * Shutdown asks first unless `confirmed`.
   */
  async control<M extends WorkerControlMethod>(command: M, args: WorkerControlMap[M], confirmed = false): Promise<{ ok: boolean; text: string }> {
    if (command === 'shutdown' && !confirmed) {
      const pick = await vscode.window.showWarningMessage(`Shut down the worker ${this.hostname}? It finishes the tasks it runs (warm shutdown) and exits; nothing restarts it.`, { modal: true }, 'Shut Down');
      if (pick !== 'Shut Down') return { ok: false, text: 'shutdown cancelled' };
    }
    const { app } = await this.hub().connection();
    const replies = await app.control.broadcast(command, { destination: [this.hostname], timeout: INSPECT_TIMEOUT_S, limit: 1, arguments: args as Record<string, unknown> });
    const r = replies.find((x) => Object.hasOwn(x, this.hostname))?.[this.hostname];
    const out = !isRecord(r)
      ? { ok: false, text: `${this.hostname} did not answer ${command}` }
      : 'error' in r
        ? { ok: false, text: String(r.error) }
        : { ok: true, text: String(r.ok ?? 'done') };
    if (command !== 'shutdown') await this.refresh();
    return out;
  }

  private async onMessage(m: unknown): Promise<void> {
    if (isPageReady(m)) {
      this.ready = true;
      if (this.info) this.post({ method: 'info', params: this.info });
      void this.refresh();
    } else if (isPageRefresh(m)) {
      void this.refresh();
    } else if (isPageControl(m)) {
      let reply: PageControlReply;
      try {
        reply = { method: 'reply', id: m.id, ...(await this.control(m.params.command, m.params.args)) };
      } catch (err) {
        reply = { method: 'reply', id: m.id, ok: false, text: (err as Error).message };
      }
      this.post(reply);
    }
  }

  private post(m: PageInfoNotification | PageControlReply): void {
    this.posted++;
    void this.panel.webview.postMessage(m);
  }

  private html(webview: vscode.Webview, dist: vscode.Uri): string {
    const nonce = randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(dist, 'worker-page.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(dist, 'worker-page.css'));
    const csp = [`default-src 'none'`, `font-src ${webview.cspSource}`, `style-src ${webview.cspSource}`, `script-src 'nonce-${nonce}'`].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>Sprig Worker</title>
</head>
<body>
<div id="app" data-hostname="${escapeAttr(this.hostname)}"></div>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
  }

  dispose(): void {
    clearInterval(this.timer);
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

/** One page per worker: opening it again shows the same panel. */
export class WorkerPages implements vscode.Disposable {
  private readonly pages = new Map<string, WorkerPage>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly hub: () => EventHub,
  ) {}

  get(hostname: string): WorkerPage | undefined {
    return this.pages.get(hostname);
  }

  open(hostname: string): WorkerPage {
    let p = this.pages.get(hostname);
    if (p) p.reveal();
    else {
      p = new WorkerPage(hostname, this.extensionUri, this.hub, () => this.pages.delete(hostname));
      this.pages.set(hostname, p);
    }
    return p;
  }

  dispose(): void {
    for (const p of this.pages.values()) p.panel.dispose();
    this.pages.clear();
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function escapeAttr(s: string): string {
  return s.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * `sprig monitor --http 127.0.0.1:5555`: the editor's monitor as a web page for teammates without
 * VS Code. The page is the very webview bundle; instead of postMessage it speaks the same protocol
 * over HTTP (webview-ui/src/http-transport.ts): notifications as Server-Sent Events on /events,
 * commands and requests POSTed to /rpc. Loopback only unless --allow-remote; every request needs
 * the token (in the printed URL; the page keeps it in an HttpOnly cookie), else 401; the Host
 * header must name this server (a DNS-rebinding page cannot reach it); read-only unless
 * --allow-actions: purge, pause, resume, requeue and revoke are refused with 403.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { isIP } from 'node:net';
import * as path from 'node:path';
import type { App } from '../app/app.js';
import { answerQueueRequest, QueueAdmin } from '../control/queues.js';
import { ConfigError } from '../errors.js';
import { ClusterState, type TaskInfo } from '../events/state.js';
import type { SprigEvent } from '../events/types.js';
import { stringifyJson, parseJson } from '../serialization/json.js';
import { monitorAssetsDir } from '../util/paths.js';

export interface MonitorServerOptions {
  host: string;
  port: number;
  /** Serve on an address other than loopback (the token is then all that guards it). */
  allowRemote?: boolean;
  /** Purge, pause, resume, requeue and revoke from the page. */
  allowActions?: boolean;
  /** Default: 32 random bytes. */
  token?: string;
  maxTasks?: number;
}

const BATCH_MS = 100;
const MAX_BODY = 64 * 1024;
const COOKIE = 'sprig_monitor';
const ACTIONS = new Set(['purgeQueue', 'pauseQueue', 'resumeQueue', 'requeueDeadLetters', 'revokeTask', 'retryTask']);
/** Outside the editor there are no --vscode-* variables: the few the monitor uses, light and dark (the system's choice). */
const BROWSER_THEME = `:root {
  --vscode-font-family: system-ui, -apple-system, "Segoe UI", sans-serif; --vscode-font-size: 13px;
  --vscode-foreground: #3b3b3b; --vscode-editor-background: #ffffff; --vscode-descriptionForeground: #717171;
  --vscode-input-foreground: #3b3b3b; --vscode-input-background: #ffffff; --vscode-input-border: #cecece;
  --vscode-dropdown-foreground: #3b3b3b; --vscode-dropdown-background: #ffffff; --vscode-dropdown-border: #cecece;
  --vscode-focusBorder: #005fb8; --vscode-icon-foreground: #3b3b3b; --vscode-toolbar-hoverBackground: rgba(184,184,184,0.31);
  --vscode-list-hoverBackground: #f2f2f2; --vscode-list-inactiveSelectionBackground: #e4e6f1; --vscode-list-activeSelectionBackground: #e8e8e8;
  --vscode-errorForeground: #f85149; --vscode-widget-border: #e5e5e5; --vscode-button-foreground: #ffffff; --vscode-button-background: #005fb8;
  --vscode-charts-green: #388a34; --vscode-charts-red: #e51400; --vscode-charts-blue: #1a85ff; --vscode-charts-orange: #d18616; --vscode-charts-purple: #652d90; --vscode-charts-yellow: #bf8803;
  --vscode-testing-iconPassed: #388a34;
}
@media (prefers-color-scheme: dark) { :root {
  --vscode-foreground: #cccccc; --vscode-editor-background: #1f1f1f; --vscode-descriptionForeground: #9d9d9d;
  --vscode-input-foreground: #cccccc; --vscode-input-background: #313131; --vscode-input-border: #3c3c3c;
  --vscode-dropdown-foreground: #cccccc; --vscode-dropdown-background: #313131; --vscode-dropdown-border: #3c3c3c;
  --vscode-focusBorder: #0078d4; --vscode-icon-foreground: #cccccc; --vscode-toolbar-hoverBackground: rgba(90,93,94,0.31);
  --vscode-list-hoverBackground: #2a2d2e; --vscode-list-inactiveSelectionBackground: #37373d; --vscode-list-activeSelectionBackground: #04395e;
  --vscode-widget-border: #313131; --vscode-button-background: #0078d4;
  --vscode-charts-green: #89d185; --vscode-charts-red: #f14c4c; --vscode-charts-blue: #3794ff; --vscode-charts-purple: #b180d7; --vscode-charts-yellow: #cca700;
} }
`;
const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.ttf': 'font/ttf', '.map': 'application/json' };

/** `host:port` (or `[::1]:port`, or a bare port: 127.0.0.1) checked: a loopback host unless allowed, a port 0-65535. */
export function parseListen(v: string, allowRemote = false): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(v.trim()) ?? (/^\d+$/.test(v.trim()) ? [v, undefined, '127.0.0.1', v.trim()] : null);
  const example = 'e.g. --http 127.0.0.1:5555';
  if (!m) throw new ConfigError(`--http expects host:port, ${example}; got ${JSON.stringify(v)}`);
  const host = (m[1] ?? m[2] ?? '').toLowerCase() || '127.0.0.1';
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--http port must be 0-65535 (0: any free port), ${example}; got ${JSON.stringify(m[3])}`);
  if (!allowRemote && !isLoopback(host)) {
    throw new ConfigError(`--http ${host} is not a loopback address: the monitor shows every task's arguments; bind 127.0.0.1 or ::1 (${example}), or pass --allow-remote to serve ${host} anyway`);
  }
  return { host, port };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '::ffff:127.0.0.1';
}

/** A snapshot's tasks column by column, as the webview's decodeTasks reads them (no dictionaries). */
function taskColumns(tasks: readonly TaskInfo[]): { count: number; fields: string[]; columns: Record<string, unknown[]> } {
  const fields = tasks.length ? Object.keys(tasks[0]!) : [];
  const columns: Record<string, unknown[]> = {};
  for (const k of fields) columns[k] = tasks.map((t) => (t as unknown as Record<string, unknown>)[k] ?? null);
  return { count: tasks.length, fields, columns };
}

export class MonitorServer {
  readonly token: string;
  private readonly state: ClusterState;
  private readonly server: http.Server;
  private readonly clients = new Set<http.ServerResponse>();
  private pending: SprigEvent[] = [];
  private timer?: ReturnType<typeof setInterval>;
  private unsubscribe?: () => Promise<void>;
  private connected = false;
  private lastError?: string;
  private displayUrl = '';
  private readonly admin: QueueAdmin;
  private readonly assets = monitorAssetsDir();
  private address = '';

  constructor(
    private readonly app: App,
    private readonly o: MonitorServerOptions,
  ) {
    if (o.token !== undefined && !/^[\w-]{16,512}$/.test(o.token)) throw new ConfigError('the monitor token (SPRIG_MONITOR_TOKEN) must be 16-512 letters, digits, - or _; leave it unset for a random one');
    this.token = o.token ?? randomBytes(32).toString('base64url');
    this.state = new ClusterState({ maxTasks: o.maxTasks ?? 10_000 });
    this.admin = new QueueAdmin(() => app.broker(), app.control);
    this.server = http.createServer((req, res) => void this.handle(req, res).catch((err: Error) => this.send(res, 500, 'text/plain', err.message)));
  }

  /** Listens, subscribes to the broker's events; resolves with the URL to open (token included). */
  async start(): Promise<string> {
    if (!fs.existsSync(path.join(this.assets, 'monitor.js'))) throw new ConfigError(`the monitor's page is not built (${this.assets}/monitor.js is missing); run npm run build`);
    const broker = await this.app.broker();
    this.displayUrl = broker.displayUrl;
    this.unsubscribe = await broker.subscribeEvents((e) => {
      e.local_received = Date.now() / 1000;
      this.state.apply(e);
      this.pending.push(e);
    });
    broker.on?.('disconnect', () => this.setConnected(false));
    broker.on?.('reconnect', () => this.setConnected(true));
    this.connected = true;
    this.timer = setInterval(() => this.flush(), BATCH_MS);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => resolve());
    });
    const a = this.server.address();
    const port = a && typeof a === 'object' ? a.port : this.o.port;
    this.address = `${this.o.host.includes(':') ? `[${this.o.host}]` : this.o.host}:${port}`;
    return `http://${this.address}/?token=${this.token}`;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const c of this.clients) c.end();
    this.clients.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.unsubscribe?.().catch(() => undefined);
  }

  private setConnected(up: boolean): void {
    this.connected = up;
    this.broadcast({ method: 'connection', params: { brokerUrl: this.displayUrl, connected: up, error: this.lastError } });
  }

  private flush(): void {
    if (!this.pending.length) return;
    const events = this.pending;
    this.pending = [];
    for (let i = 0; i < events.length; i += 5000) this.broadcast({ method: 'events', params: { events: events.slice(i, i + 5000) } });
  }

  private broadcast(m: unknown): void {
    const frame = `data: ${stringifyJson(m)}\n\n`;
    for (const c of this.clients) c.write(frame);
  }

  /** The token in the query, an `Authorization: Bearer`, or the cookie; compared in constant time. */
  private authorized(req: http.IncomingMessage, url: URL): 'query' | 'other' | false {
    const given = [
      ['query', url.searchParams.get('token')],
      ['other', /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]],
      ['other', new RegExp(`(?:^|;\\s*)${COOKIE}=([^;]+)`).exec(req.headers.cookie ?? '')?.[1]],
    ] as const;
    const want = Buffer.from(this.token);
    for (const [how, v] of given) {
      if (v && Buffer.byteLength(v) === want.length && timingSafeEqual(Buffer.from(v), want)) return how;
    }
    return false;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Another Host is a page on another name that resolved here (DNS rebinding).
    const hostOk = req.headers.host === this.address || (isLoopback(this.o.host) && /^(localhost|127\.0\.0\.1|\[::1\]):\d+$/.test(req.headers.host ?? '') && req.headers.host?.endsWith(`:${this.address.split(':').pop()}`));
    if (!hostOk) return this.send(res, 421, 'text/plain', `this server answers to ${this.address} only\n`);
    const url = new URL(req.url ?? '/', `http://${this.address}`);
    const auth = this.authorized(req, url);
    if (!auth) return this.send(res, 401, 'text/plain', 'sprig monitor: open the URL it printed (with ?token=...)\n');
    if (auth === 'query') res.setHeader('Set-Cookie', `${COOKIE}=${this.token}; HttpOnly; SameSite=Strict; Path=/`);
    if (req.method === 'GET' && url.pathname === '/') return this.send(res, 200, 'text/html; charset=utf-8', this.page());
    if (req.method === 'GET' && url.pathname === '/events') return this.stream(req, res);
    if (req.method === 'GET' && url.pathname === '/browser-theme.css') return this.send(res, 200, TYPES['.css']!, BROWSER_THEME);
    if (req.method === 'POST' && url.pathname === '/rpc') return this.rpc(req, res);
    if (req.method === 'GET' && /^\/[\w.-]+\.(js|css|ttf|map)$/.test(url.pathname)) {
      const file = path.join(this.assets, path.basename(url.pathname));
      if (fs.existsSync(file)) return this.send(res, 200, TYPES[path.extname(file)] ?? 'application/octet-stream', fs.readFileSync(file));
    }
    this.send(res, 404, 'text/plain', 'not found\n');
  }

  private send(res: http.ServerResponse, status: number, type: string, body: string | Buffer): void {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });
    res.end(body);
  }

  private page(): string {
    // The same CSP as the webview's: scripts, styles and fonts from this server only.
    const nonce = randomBytes(16).toString('base64');
    const csp = [`default-src 'none'`, `img-src 'self' data:`, `font-src 'self'`, `style-src 'self'`, `script-src 'nonce-${nonce}'`, `connect-src 'self'`].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="/monitor.css">
<link rel="stylesheet" href="/browser-theme.css">
<title>Sprig Monitor</title>
</head>
<body class="sprig-browser">
<div id="app" data-nonce="${nonce}"></div>
<script nonce="${nonce}" src="/monitor.js"></script>
</body>
</html>`;
  }

  private stream(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    this.clients.add(res);
    req.on('close', () => this.clients.delete(res));
    const first = [
      { method: 'mode', params: { actions: !!this.o.allowActions, browser: true } },
      {
        method: 'snapshot',
        params: {
          state: { workers: [...this.state.workers.values()], tasks: taskColumns([...this.state.tasks.values()]), eventCount: this.state.eventCount },
          paused: false,
          maxTasks: this.state.maxTasks,
          brokerUrl: this.displayUrl,
          connected: this.connected,
          error: this.lastError,
        },
      },
    ];
    for (const m of first) res.write(`data: ${stringifyJson(m)}\n\n`);
  }

  private async rpc(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // A form on another site cannot send JSON without a CORS preflight, which this server never answers.
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return this.send(res, 415, 'text/plain', 'POST JSON (content-type: application/json)\n');
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) return this.send(res, 413, 'text/plain', `a request is at most ${MAX_BODY} bytes\n`);
      chunks.push(c as Buffer);
    }
    let m: { method?: unknown; id?: unknown; params?: Record<string, unknown> };
    try {
      m = parseJson(Buffer.concat(chunks).toString('utf8')) as typeof m;
    } catch (err) {
      return this.send(res, 400, 'text/plain', `not JSON: ${(err as Error).message}\n`);
    }
    if (!m || typeof m !== 'object' || typeof m.method !== 'string') return this.send(res, 400, 'text/plain', 'expected {"method": ..., "id": ..., "params": {...}}\n');
    // Commands (ready, setPaused, clear, openLocation) change only the page's own view.
    if (typeof m.id !== 'number') return this.send(res, 204, 'text/plain', '');
    const reply = (status: number, r: { ok: boolean; result?: unknown; error?: string }) => this.send(res, status, 'application/json', stringifyJson({ method: 'reply', id: m.id, ...r }));
    if (ACTIONS.has(m.method) && !this.o.allowActions) return reply(403, { ok: false, error: 'read-only: this monitor was started without --allow-actions' });
    try {
      return reply(200, { ok: true, result: await this.answer(m.method, m.params ?? {}) });
    } catch (err) {
      return reply(err instanceof ConfigError ? 400 : 500, { ok: false, error: (err as Error).message });
    }
  }

  private async answer(method: string, p: Record<string, unknown>): Promise<unknown> {
    if (method === 'revokeTask') {
      if (typeof p.taskId !== 'string') throw new ConfigError('revokeTask needs a taskId');
      await this.app.control.revoke(p.taskId, { terminate: p.terminate === true, reply: false });
      return { sent: true };
    }
    if (method === 'listQueues' || ACTIONS.has(method)) {
      if (method === 'retryTask') throw new ConfigError('retry is not available in the browser monitor (use the editor: it keeps the exact arguments)');
      return answerQueueRequest(this.admin, method, p, (await this.app.config()).defaultQueue ?? 'celery');
    }
    throw new ConfigError(`${method} is not available in the browser monitor`);
  }
}

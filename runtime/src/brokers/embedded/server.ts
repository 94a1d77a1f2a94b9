/**
 * The embedded broker server: one WebSocket endpoint on 127.0.0.1, bearer-token auth at the
 * upgrade, JSON frames (protocol.ts) into the Hub, state made durable by the Journal.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { WebSocket } from 'ws';
import { ConfigError, SprigError } from '../../errors.js';
import { createLogger, type Logger } from '../../util/log.js';
import { onParentShutdown } from '../../util/child-ipc.js';
import { brokerInfoPath, isPidAlive, removeBrokerInfo, sprigDir, writeBrokerInfo } from './discovery.js';
import { Hub } from './hub.js';
import { Journal, type FsyncPolicy } from './journal.js';
import {
  HEALTH_PATH,
  PROTOCOL_VERSION,
  isRequestFrame,
  type ErrorBody,
  type PushFrame,
  type ReplyFrame,
} from './protocol.js';
import { parseJson, stringifyJson } from '../../serialization/json.js';

export interface EmbeddedServerOptions {
  /** Project folder: state lives in `<dir>/.sprig/` (broker.json, journal/). */
  dir: string;
  /** 0 or undefined: any free port. */
  port?: number;
  fsync?: FsyncPolicy;
  /** Journal compaction threshold in bytes (default 64 MB). */
  compactBytes?: number;
  /** Close after this long with no client connection (undefined: never). */
  idleExitMs?: number;
  /** Write `<dir>/.sprig/broker.json` (default true). */
  writeInfo?: boolean;
  log?: Logger;
}

export interface EmbeddedServer {
  readonly port: number;
  readonly token: string;
  readonly journalPath: string;
  /** Resolves once the server has stopped (close(), or the idle exit). */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/** Dirs with a server in this process: the journal lock file alone cannot tell our own pid apart. */
const openDirs = new Set<string>();

export async function startEmbeddedServer(opts: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const dir = path.resolve(opts.dir);
  const log = opts.log ?? createLogger('sprig.broker');
  const journalDir = path.join(sprigDir(dir), 'journal');
  fs.mkdirSync(journalDir, { recursive: true, mode: 0o700 });
  const lockFile = takeJournalLock(dir, journalDir);
  let journal: Journal | undefined;
  try {
    const opened = await Journal.open(journalDir, { fsync: opts.fsync, compactBytes: opts.compactBytes, log });
    journal = opened.journal;
    const { state } = opened;
    if (state.records > 0) {
      log.info(`journal replayed: ${state.records} records, ${state.messages.length} messages, ${state.results.length} results`);
    }
    const hub = new Hub(journal, state, log);
    const token = randomBytes(32).toString('hex');
    const srv = new Server(hub, journal, token, log, opts.idleExitMs);
    const port = await srv.listen(opts.port ?? 0);
    if (opts.writeInfo !== false) {
      writeBrokerInfo(dir, { port, pid: process.pid, token, startedAt: new Date().toISOString(), version: 1 });
    }
    srv.onClosed = () => {
      if (opts.writeInfo !== false) removeBrokerInfo(dir, token);
      fs.rmSync(lockFile, { force: true });
      openDirs.delete(dir);
    };
    return {
      port,
      token,
      journalPath: journal.file,
      closed: srv.closed,
      close: () => srv.close(),
    };
  } catch (err) {
    await journal?.close().catch(() => undefined);
    fs.rmSync(lockFile, { force: true });
    openDirs.delete(dir);
    throw err;
  }
}

function takeJournalLock(dir: string, journalDir: string): string {
  const lockFile = path.join(journalDir, 'LOCK');
  if (openDirs.has(dir)) throw new ConfigError(`an embedded broker is already running in this process for ${dir}`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx', mode: 0o600 });
      openDirs.add(dir);
      return lockFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(lockFile, 'utf8').trim());
      if (pid && pid !== process.pid && isPidAlive(pid)) {
        throw new ConfigError(
          `another embedded broker (pid ${pid}) is already using ${journalDir}; see ${brokerInfoPath(dir)}`,
        );
      }
      fs.rmSync(lockFile, { force: true });
    }
  }
  throw new ConfigError(`cannot take the journal lock ${lockFile}`);
}

class Server {
  private readonly http: http.Server;
  private readonly wss = new (require('ws') as typeof import('ws')).WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  private readonly tokenDigest: Buffer;
  private idleTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private resolveClosed!: () => void;
  readonly closed = new Promise<void>((r) => (this.resolveClosed = r));
  onClosed: () => void = () => undefined;

  constructor(
    private readonly hub: Hub,
    private readonly journal: Journal,
    token: string,
    private readonly log: Logger,
    private readonly idleExitMs: number | undefined,
  ) {
    this.tokenDigest = digest(token);
    this.http = http.createServer((req, res) => this.onHttp(req, res));
    this.http.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => {
      if (this.closing || !this.authorized(req)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
    });
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, '127.0.0.1', () => {
        this.http.off('error', reject);
        this.armIdle();
        resolve((this.http.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  private shutdownRequested(): { pid: number } {
    // The reply goes out before the close frames (same socket, in order).
    this.log.info('shutdown requested by a client');
    setImmediate(() => void this.close());
    return { pid: process.pid };
  }

  private async shutdown(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.http.close();
    // Commit what is in flight first, so publishers get their replies before their sockets close;
    // the journal itself closes last so acks that arrive before the close handshake still count.
    await this.journal.whenIdle();
    const sockets = [...this.wss.clients];
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => ws.terminate(), 1000);
            ws.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            ws.close(1001, 'broker shutting down');
          }),
      ),
    );
    await this.journal.close().catch((err: Error) => this.log.error(`journal close: ${err.message}`));
    await this.hub.close();
    this.http.closeAllConnections();
    this.onClosed();
    this.resolveClosed();
  }

  private authorized(req: http.IncomingMessage): boolean {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    return !!m && timingSafeEqual(digest(m[1]!), this.tokenDigest);
  }

  private onHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.url !== HEALTH_PATH) {
      res.writeHead(404).end();
      return;
    }
    if (!this.authorized(req)) {
      res.writeHead(401).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({ pid: process.pid, version: PROTOCOL_VERSION }),
    );
  }

  private armIdle(): void {
    if (this.idleExitMs === undefined || this.idleExitMs <= 0 || this.hub.sessionCount > 0 || this.closing) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.log.info(`no clients for ${Math.round(this.idleExitMs! / 1000)}s: exiting`);
      void this.close();
    }, this.idleExitMs);
  }

  private onConnection(ws: WebSocket): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const send = (frame: ReplyFrame | PushFrame) => {
      if (ws.readyState === ws.OPEN) ws.send(stringifyJson(frame));
    };
    const session = this.hub.openSession({
      deliver: (items) => send({ push: 'deliver', items }),
      events: (events) => send({ push: 'events', events }),
      control: (request) => send({ push: 'control', request }),
      backlog: () => ws.bufferedAmount,
    });
    ws.on('message', (data, isBinary) => {
      let frame: unknown;
      try {
        frame = parseJson(isBinary ? Buffer.from(data as Buffer).toString('utf8') : String(data));
      } catch {
        ws.close(1007, 'frames must be JSON');
        return;
      }
      if (!isRequestFrame(frame)) {
        const id = (frame as { id?: unknown } | null)?.id;
        if (typeof id === 'number') send({ re: id, ok: false, error: { code: 'E_PROTOCOL', message: 'unknown request' } });
        return;
      }
      const id = frame.id;
      let result: unknown;
      try {
        // `shutdown` is the server's own (it ends the process's broker), the rest the Hub's.
        result = frame.op === 'shutdown' ? this.shutdownRequested() : this.hub.handle(session, frame);
      } catch (err) {
        if (id !== undefined) send({ re: id, ok: false, error: errorBody(err) });
        return;
      }
      if (id === undefined) return;
      if (result instanceof Promise) {
        result.then(
          (value: unknown) => send({ re: id, ok: true, value: value ?? null }),
          (err: unknown) => send({ re: id, ok: false, error: errorBody(err) }),
        );
      } else send({ re: id, ok: true, value: result ?? null });
    });
    ws.on('error', (err) => this.log.debug(`client socket error: ${err.message}`));
    ws.on('close', () => {
      this.hub.closeSession(session);
      this.armIdle();
    });
  }
}

function digest(s: string): Buffer {
  // Hash first so timingSafeEqual always compares equal lengths and the token length does not leak.
  return createHash('sha256').update(s).digest();
}

function errorBody(err: unknown): ErrorBody {
  if (err instanceof SprigError) return { code: err.code, message: err.message };
  return { code: 'E_BROKER', message: err instanceof Error ? err.message : String(err) };
}

export interface RunBrokerOptions {
  dir: string;
  port?: number;
  /** Started by a client's autostart (`sprig broker --auto`): idle exit defaults to 10 minutes. */
  auto?: boolean;
  /** Exit after this long with no clients; 0: never. Default: SPRIG_BROKER_IDLE_EXIT_MS, else 10 min when `auto`, else never. */
  idleExitMs?: number;
  fsync?: FsyncPolicy;
  log?: Logger;
}

export const AUTO_IDLE_EXIT_MS = 10 * 60 * 1000;

/**
 * `sprig broker`: run in the foreground until a client's `shutdown` request, a shutdown request from
 * the parent over IPC (or the parent going away), SIGTERM/SIGINT where the OS has them, or the idle exit.
 */
export async function runEmbeddedBroker(opts: RunBrokerOptions): Promise<void> {
  const env = process.env.SPRIG_BROKER_IDLE_EXIT_MS;
  const idleExitMs = opts.idleExitMs ?? (env !== undefined && env !== '' ? Number(env) : opts.auto ? AUTO_IDLE_EXIT_MS : undefined);
  const server = await startEmbeddedServer({
    dir: opts.dir,
    port: opts.port,
    fsync: opts.fsync,
    idleExitMs: idleExitMs !== undefined && Number.isFinite(idleExitMs) && idleExitMs > 0 ? idleExitMs : undefined,
    log: opts.log,
  });
  process.stdout.write(`sprig embedded broker listening on 127.0.0.1:${server.port} (journal ${server.journalPath})\n`);
  const stop = () => void server.close();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const stopListening = onParentShutdown(stop);
  try {
    await server.closed;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    stopListening();
  }
}

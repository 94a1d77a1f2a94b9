/**
 * One WebSocket to the embedded broker, shared by EmbeddedBroker and EmbeddedBackend: request/reply
 * by id, server pushes, and reconnection (exponential backoff with jitter, re-running discovery each
 * attempt because a restarted broker may listen on another port).
 */
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import type WebSocket from 'ws';
import { ConnectionError, SprigError } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import { backoff, sleep } from '../../util/resilience.js';
import { isPidAlive, readBrokerInfo, type BrokerEndpoint } from './discovery.js';
import {
  isReplyFrame,
  isServerFrame,
  type HubLink,
  type OnDrop,
  type OpName,
  type OpRequest,
  type OpResult,
  type PushFrame,
  type ServerFrame,
} from './protocol.js';
import { parseJson, stringifyJson } from '../../serialization/json.js';

/** `ws` loads on first use: every CLI command loads this module, few open a socket. */
let wsModule: typeof WebSocket | undefined;
const wsLib = (): typeof WebSocket => (wsModule ??= require('ws') as typeof WebSocket);

interface Pending {
  id: number;
  text: string;
  onDrop: OnDrop;
  resolve: (v: unknown) => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
}

export interface ConnectionOptions {
  /** Where the broker is now (runs discovery/autostart). Called on every (re)connect attempt. */
  resolve: () => Promise<BrokerEndpoint>;
  /** How long a request waits for a lost connection to come back. */
  waitTimeoutMs: number;
  log?: Logger;
}

const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 5000;

export class BrokerConnection implements HubLink {
  private ws: WebSocket | undefined;
  private state: 'idle' | 'open' | 'reconnecting' | 'closed' = 'idle';
  private connecting: Promise<void> | undefined;
  private nextId = 1;
  private readonly inflight = new Map<number, Pending>();
  private readonly queued: Pending[] = [];
  private readonly pushListeners = new Set<(f: PushFrame) => void>();
  private readonly openHooks = new Set<() => void>();
  private readonly emitter = new EventEmitter();
  private endpoint: BrokerEndpoint | undefined;

  constructor(private readonly opts: ConnectionOptions) {}

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get port(): number | undefined {
    return this.endpoint?.port;
  }

  on(event: 'reconnect' | 'disconnect', listener: () => void): void {
    this.emitter.on(event, listener);
  }

  onPush(listener: (f: PushFrame) => void): void {
    this.pushListeners.add(listener);
  }

  /** Runs after every reconnect, before queued requests go out: re-make subscriptions here. */
  onOpen(hook: () => void): void {
    this.openHooks.add(hook);
  }

  /** The first connection: fails fast with a ConnectionError instead of retrying forever. */
  connect(): Promise<void> {
    if (this.state === 'open' || this.state === 'reconnecting') return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(new ConnectionError('connection to the embedded broker is closed'));
    return (this.connecting ??= this.attempt().then(
      () => {
        this.connecting = undefined;
      },
      (err: unknown) => {
        this.connecting = undefined;
        throw err;
      },
    ));
  }

  request<K extends OpName>(op: K, params: OpRequest<K>, onDrop: OnDrop = 'resend'): Promise<OpResult<K>> {
    if (this.state === 'closed') return Promise.reject(new ConnectionError('connection to the embedded broker is closed'));
    const id = this.nextId++;
    const text = stringifyJson({ id, op, ...params });
    return new Promise<OpResult<K>>((resolve, reject) => {
      const p: Pending = { id, text, onDrop, resolve: resolve as (v: unknown) => void, reject };
      if (this.state === 'open') this.send(p);
      else {
        this.enqueue(p);
        this.enqueueAndConnect();
      }
    });
  }

  private enqueueAndConnect(): void {
    // A request before connect(): connect now, and fail the waiting requests with the real reason.
    if (this.state !== 'idle') return;
    this.connect().catch((err: Error) => {
      for (const p of this.queued.splice(0)) this.settle(p, err);
    });
  }

  /** Fire-and-forget; dropped while disconnected (events are best-effort). */
  notify<K extends OpName>(op: K, params: OpRequest<K>): void {
    if (this.state === 'open' && this.ws?.readyState === wsLib().OPEN) this.ws.send(stringifyJson({ op, ...params }));
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    const err = new ConnectionError('connection to the embedded broker was closed');
    for (const p of this.queued.splice(0)) this.settle(p, err);
    for (const p of [...this.inflight.values()]) this.settle(p, err);
    this.inflight.clear();
    const ws = this.ws;
    this.ws = undefined;
    if (ws && ws.readyState !== wsLib().CLOSED) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          ws.terminate();
          resolve();
        }, 1000);
        ws.once('close', () => {
          clearTimeout(t);
          resolve();
        });
        ws.close(1000);
      });
    }
  }

  private send(p: Pending): void {
    this.inflight.set(p.id, p);
    this.ws!.send(p.text);
  }

  private enqueue(p: Pending): void {
    this.queued.push(p);
    p.timer = setTimeout(() => {
      const i = this.queued.indexOf(p);
      if (i >= 0) this.queued.splice(i, 1);
      p.reject(
        new ConnectionError(
          `the embedded broker did not come back within ${this.opts.waitTimeoutMs / 1000}s` +
            (this.endpoint ? ` (last at 127.0.0.1:${this.endpoint.port})` : ''),
        ),
      );
    }, this.opts.waitTimeoutMs);
  }

  private settle(p: Pending, err: Error): void {
    if (p.timer) clearTimeout(p.timer);
    p.reject(err);
  }

  private async attempt(): Promise<void> {
    const ep = await this.opts.resolve();
    const ws = await openSocket(ep);
    if (this.state === 'closed') {
      ws.terminate();
      throw new ConnectionError('connection to the embedded broker was closed');
    }
    this.endpoint = ep;
    this.ws = ws;
    ws.on('message', (data) => this.onMessage(String(data)));
    ws.on('error', (err) => this.opts.log?.debug(`embedded broker socket error: ${err.message}`));
    ws.on('close', () => this.onClose(ws));
    const first = this.state === 'idle';
    this.state = 'open';
    for (const h of this.openHooks) h();
    for (const p of this.queued.splice(0)) {
      if (p.timer) clearTimeout(p.timer);
      p.timer = undefined;
      this.send(p);
    }
    if (!first) this.emitter.emit('reconnect');
  }

  private onMessage(text: string): void {
    let frame: ServerFrame;
    try {
      const v: unknown = parseJson(text);
      if (!isServerFrame(v)) return;
      frame = v;
    } catch {
      return;
    }
    if (isReplyFrame(frame)) {
      const p = this.inflight.get(frame.re);
      if (!p) return;
      this.inflight.delete(frame.re);
      if (frame.ok) p.resolve(frame.value);
      else p.reject(new SprigError(frame.error.code, `embedded broker: ${frame.error.message}`));
      return;
    }
    for (const l of this.pushListeners) l(frame);
  }

  private onClose(ws: WebSocket): void {
    if (this.ws !== ws || this.state === 'closed') return;
    this.ws = undefined;
    this.state = 'reconnecting';
    const lost = [...this.inflight.values()];
    this.inflight.clear();
    for (const p of lost) {
      if (p.onDrop === 'resend') this.enqueue(p);
      else if (p.onDrop === 'drop') p.resolve(null);
      else p.reject(new ConnectionError('the connection to the embedded broker dropped'));
    }
    this.opts.log?.warn('lost the connection to the embedded broker; reconnecting');
    this.emitter.emit('disconnect');
    void this.reconnectLoop();
  }

  private async reconnectLoop(): Promise<void> {
    for (let n = 0; this.state === 'reconnecting'; n++) {
      // Jittered: clients dropped together by a broker restart do not come back in lockstep.
      await sleep(backoff(n, BACKOFF_BASE_MS, BACKOFF_MAX_MS));
      if (this.state !== 'reconnecting') return;
      try {
        await this.attempt();
        return;
      } catch (err) {
        this.opts.log?.debug(`reconnect attempt ${n + 1} failed: ${(err as Error).message}`);
      }
    }
  }
}

function openSocket(ep: BrokerEndpoint): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new (wsLib())(`ws://${ep.host}:${ep.port}/`, {
      headers: { Authorization: `Bearer ${ep.token}` },
      perMessageDeflate: false,
      handshakeTimeout: 5000,
      maxPayload: 256 * 1024 * 1024,
    });
    let done = false;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      reject(err);
    };
    ws.once('open', () => {
      if (done) return;
      done = true;
      ws.removeAllListeners();
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      fail(
        new ConnectionError(
          status === 401
            ? `the embedded broker at ${ep.host}:${ep.port} refused the token (HTTP 401); is broker.json from another broker?`
            : `the embedded broker at ${ep.host}:${ep.port} answered HTTP ${status} to the WebSocket upgrade`,
        ),
      );
    });
    ws.on('error', (err) =>
      fail(new ConnectionError(`cannot connect to the embedded broker at ${ep.host}:${ep.port}: ${err.message}`, { cause: err })),
    );
    ws.once('close', () => fail(new ConnectionError(`the embedded broker at ${ep.host}:${ep.port} closed the connection`)));
  });
}

/** Ask the broker at `ep` to stop (the `shutdown` request); true when it accepted within `timeoutMs`. */
export async function requestBrokerShutdown(ep: BrokerEndpoint, timeoutMs = 5000): Promise<boolean> {
  const conn = new BrokerConnection({ resolve: () => Promise.resolve(ep), waitTimeoutMs: timeoutMs });
  let timer: NodeJS.Timeout | undefined;
  try {
    await conn.connect();
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    return (await Promise.race([conn.request('shutdown', {}, 'drop'), late])) !== null;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    await conn.close();
  }
}

/**
 * Stop the project's broker without a signal: the `shutdown` request over its own protocol (the
 * token from broker.json authenticates it, like every request), then wait for its process to end.
 * SIGTERM only as a last resort (a broker that does not answer), which on Windows is TerminateProcess.
 */
export async function stopEmbeddedBroker(projectDir: string, timeoutMs = 10_000): Promise<'none' | 'request' | 'signal'> {
  const info = readBrokerInfo(path.resolve(projectDir));
  if (!info || !isPidAlive(info.pid)) return 'none';
  const asked = await requestBrokerShutdown({ host: '127.0.0.1', port: info.port, token: info.token }, Math.min(timeoutMs, 5000));
  if (asked && (await pidGone(info.pid, timeoutMs))) return 'request';
  try {
    process.kill(info.pid, 'SIGTERM');
  } catch {
    /* gone meanwhile */
  }
  await pidGone(info.pid, 5000);
  return 'signal';
}

async function pidGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isPidAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

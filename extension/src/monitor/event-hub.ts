/**
 * One connection to the broker for the window: it subscribes to the broker's event stream (every
 * worker on the broker, not only ours), keeps the ClusterState, and hands events to the monitor in
 * batches every ~100 ms. Enqueue, retry, revoke and purge go through the same App.
 */
import * as vscode from 'vscode';
import { runtime, type App, type Broker, type ClusterState, type SprigEvent, type TaskInfo, type TaskStateName } from '../runtime.js';
import type { BrokerTarget } from '../broker/broker-target.js';

export interface HubConnection {
  target: BrokerTarget;
  app: App;
  broker: Broker;
}

export interface EventBatch {
  events: SprigEvent[];
  links: Array<[string, string]>;
}

export interface SentCall {
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  queue?: string;
}

const BATCH_MS = 100;
/** Events per batch at most (10,000 events/s is 1,000 per batch). */
const MAX_BATCH_EVENTS = 5000;
const RECONNECT_MS = 3000;

export class EventHub implements vscode.Disposable {
  readonly state: ClusterState;
  private readonly readyStates: ReadonlySet<TaskStateName>;
  private conn?: Promise<HubConnection>;
  private unsubscribe?: () => Promise<void>;
  private pending: SprigEvent[] = [];
  private links: Array<[string, string]> = [];
  private timer?: ReturnType<typeof setInterval>;
  private readonly batchListeners = new Set<(b: EventBatch) => void>();
  private readonly taskWaiters = new Map<string, Array<(t: TaskInfo) => void>>();
  /** Calls this window sent, by id (Retry uses their exact arguments). */
  private readonly sent = new Map<string, SentCall>();
  connected = false;
  lastError?: string;
  displayUrl = '';
  private readonly statusEmitter = new vscode.EventEmitter<void>();
  readonly onDidChangeConnection = this.statusEmitter.event;
  private readonly workerEmitter = new vscode.EventEmitter<{ hostname: string; active: number; processed: number }>();
  readonly onWorkerStatus = this.workerEmitter.event;
  private disposed = false;
  private retryTimer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly resolveTarget: () => Promise<BrokerTarget>,
    private readonly prepare: (t: BrokerTarget) => Promise<void>,
    maxTasks: number,
  ) {
    const rt = runtime();
    this.state = new rt.ClusterState({ maxTasks });
    this.readyStates = rt.READY_STATES;
  }

  /** The connection (made on first use; made again after a failure or a broker change). */
  connection(): Promise<HubConnection> {
    return (this.conn ??= this.open().catch((err: Error) => {
      this.conn = undefined;
      this.connected = false;
      this.lastError = err.message;
      this.statusEmitter.fire();
      throw err;
    }));
  }

  /** Connect, and keep trying every few seconds while something wants the events. */
  ensureConnected(): void {
    if (this.disposed) return;
    this.connection().catch(() => {
      clearTimeout(this.retryTimer);
      if (this.batchListeners.size > 0) this.retryTimer = setTimeout(() => this.ensureConnected(), RECONNECT_MS);
    });
  }

  private async open(): Promise<HubConnection> {
    const target = await this.resolveTarget();
    this.displayUrl = target.displayUrl;
    await this.prepare(target);
    const rt = runtime();
    const app = new rt.App({ brokerUrl: target.url, projectDir: target.projectDir, sendSentEvent: true }, { configFile: target.configFile });
    const broker = await withTimeout(app.broker(), 15_000, `cannot connect to ${target.displayUrl}`);
    this.unsubscribe = await broker.subscribeEvents((e) => this.onEvent(e));
    broker.on?.('disconnect', () => {
      this.connected = false;
      this.statusEmitter.fire();
    });
    broker.on?.('reconnect', () => {
      this.connected = true;
      this.statusEmitter.fire();
    });
    this.connected = true;
    this.lastError = undefined;
    this.timer ??= setInterval(() => this.flush(), BATCH_MS);
    this.statusEmitter.fire();
    return { target, app, broker };
  }

  /** Drop the connection (broker setting changed); listeners stay and reconnect. */
  async reset(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    this.connected = false;
    if (c) {
      const conn = await c.catch(() => undefined);
      await this.unsubscribe?.().catch(() => undefined);
      this.unsubscribe = undefined;
      await conn?.app.close().catch(() => undefined);
    }
    this.statusEmitter.fire();
    if (this.batchListeners.size > 0) this.ensureConnected();
  }

  private onEvent(e: SprigEvent): void {
    e.local_received = Date.now() / 1000;
    const change = this.state.apply(e);
    this.pending.push(e);
    if (change.worker) this.workerEmitter.fire({ hostname: change.worker.hostname, active: change.worker.active, processed: change.worker.processed });
    const t = change.task;
    if (t && this.readyStates.has(t.state)) {
      const waiters = this.taskWaiters.get(t.uuid);
      if (waiters) {
        this.taskWaiters.delete(t.uuid);
        for (const w of waiters) w(t);
      }
    }
  }

  /** Test and UI hook: feed events as if they came from the broker. */
  inject(events: readonly SprigEvent[]): void {
    for (const e of events) this.onEvent(e);
  }

  private flush(): void {
    if (this.pending.length === 0 && this.links.length === 0) return;
    const events = this.pending;
    const links = this.links;
    this.pending = [];
    this.links = [];
    // A burst (a backlog after a reconnect, a flood) goes out in slices: the webview applies each
    // in its own task, so it can still draw frames in between.
    for (let i = 0; i === 0 || i < events.length; i += MAX_BATCH_EVENTS) {
      const batch = { events: events.slice(i, i + MAX_BATCH_EVENTS), links: i + MAX_BATCH_EVENTS >= events.length ? links : [] };
      for (const l of this.batchListeners) l(batch);
    }
  }

  onBatch(listener: (b: EventBatch) => void): vscode.Disposable {
    this.batchListeners.add(listener);
    this.ensureConnected();
    return new vscode.Disposable(() => this.batchListeners.delete(listener));
  }

  /** Resolves when the task reaches a ready state (SUCCESS, FAILURE, REVOKED, REJECTED). */
  waitForTask(id: string, timeoutMs: number): Promise<TaskInfo | undefined> {
    const t = this.state.tasks.get(id);
    if (t && this.readyStates.has(t.state)) return Promise.resolve(t);
    return new Promise((resolve) => {
      const list = this.taskWaiters.get(id) ?? [];
      const done = (x: TaskInfo | undefined) => {
        clearTimeout(timer);
        resolve(x);
      };
      const timer = setTimeout(() => {
        const l = this.taskWaiters.get(id);
        if (l) this.taskWaiters.set(id, l.filter((f) => f !== done));
        resolve(undefined);
      }, timeoutMs);
      list.push(done);
      this.taskWaiters.set(id, list);
    });
  }

  async send(call: SentCall & { headers?: Record<string, unknown> }): Promise<string> {
    const { app } = await this.connection();
    const r = app.sendTask(call.name, call.args, call.kwargs, { queue: call.queue, headers: call.headers });
    await r.sent;
    this.sent.set(r.id, { name: call.name, args: call.args, kwargs: call.kwargs, queue: call.queue });
    if (this.sent.size > 10_000) this.sent.delete(this.sent.keys().next().value!);
    return r.id;
  }

  sentCall(id: string): SentCall | undefined {
    return this.sent.get(id);
  }

  link(oldId: string, newId: string): void {
    this.state.link(oldId, newId);
    this.links.push([oldId, newId]);
  }

  setMaxTasks(n: number): void {
    this.state.setMaxTasks(n);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    this.batchListeners.clear();
    const c = this.conn;
    this.conn = undefined;
    if (c) {
      const conn = await c.catch(() => undefined);
      await this.unsubscribe?.().catch(() => undefined);
      await conn?.app.close().catch(() => undefined);
    }
    this.statusEmitter.dispose();
    this.workerEmitter.dispose();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(t);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/**
 * Custom event consumers (Celery's `app.events.Receiver(handlers=...)` and `app.events.State()`):
 * handlers by event name, typed from SprigEventMap, on every broker through its `subscribeEvents`.
 *
 * Like Celery's, a receiver sees events from the moment it is subscribed: the event stream is
 * pub/sub on every broker, so nothing published before `start()` (or while the connection is
 * down) is replayed. After a reconnect the broker subscribes again on its own; the receiver
 * reports the window it may have missed as a `gap`.
 */
import type { Broker } from '../brokers/types.js';
import { ClusterState, type ClusterStateOptions } from './state.js';
import type { SprigEvent, SprigEventMap, SprigEventType } from './types.js';
import { setLongTimeout } from '../util/timers.js';

/** One handler per event name, typed by it, and '*' for every event (BullMQ's WorkerListener shape). */
export type EventHandlerMap = { [K in SprigEventType]: (event: SprigEventMap[K]) => void } & { '*': (event: SprigEvent) => void };

/** The connection was lost and came back: events published between `from` and `to` may be missing. */
export interface EventGap {
  /** Seconds since the epoch. */
  from: number;
  to: number;
}

/** The receiver's own lifecycle, next to the event handlers. */
export interface ReceiverLifecycle {
  /** Subscribed: events from now on are delivered. */
  ready: () => void;
  /** The broker connection dropped; events sent until `reconnected` are not seen. */
  disconnected: (at: number) => void;
  reconnected: (gap: EventGap) => void;
  /** A handler threw; the receiver goes on. Without an `error` handler it is logged to stderr. */
  error: (err: unknown, event: SprigEvent) => void;
}

export type ReceiverListener = EventHandlerMap & ReceiverLifecycle;
export type ReceiverHandlers = Partial<ReceiverListener>;

export interface ReceiverOptions {
  /** Apply every event to this state before the handlers run (Celery's `handlers={'*': state.event}`). */
  state?: ClusterState;
}

export interface CaptureOptions {
  /** Stop after this many events. */
  limit?: number;
  /** Stop after this many seconds. */
  timeout?: number;
  signal?: AbortSignal;
}

type AnyHandler = (...args: never[]) => void;

/**
 * The broker's connection lifecycle, fanned out to its receivers: one pair of listeners per broker
 * however many receivers come and go (the Broker contract has `on` but no `off`).
 */
const watchers = new WeakMap<Broker, Set<EventReceiver>>();
function watchLifecycle(broker: Broker, r: EventReceiver): () => void {
  let set = watchers.get(broker);
  if (!set) {
    const s = (set = new Set());
    watchers.set(broker, s);
    broker.on?.('disconnect', () => {
      for (const x of [...s]) x.onDisconnect();
    });
    broker.on?.('reconnect', () => {
      for (const x of [...s]) x.onReconnect();
    });
  }
  set.add(r);
  return () => set.delete(r);
}

export class EventReceiver {
  private readonly handlers = new Map<keyof ReceiverListener, Set<AnyHandler>>();
  private unsubscribe?: () => Promise<void>;
  private unwatch?: () => void;
  private starting?: Promise<this>;
  private closed = false;
  private downSince: number | undefined;
  private readonly captures = new Set<() => void>();
  /** Events received (Celery's `event_count` on the receiver side). */
  count = 0;
  /** Reconnects seen, each a possible gap. */
  readonly gaps: EventGap[] = [];
  readonly state?: ClusterState;

  constructor(
    private readonly broker: () => Promise<Broker>,
    handlers: ReceiverHandlers = {},
    opts: ReceiverOptions = {},
  ) {
    this.state = opts.state;
    for (const [k, fn] of Object.entries(handlers)) if (typeof fn === 'function') this.on(k as keyof ReceiverListener, fn as ReceiverListener[keyof ReceiverListener]);
  }

  on<U extends keyof ReceiverListener>(name: U, handler: ReceiverListener[U]): this {
    let set = this.handlers.get(name);
    if (!set) this.handlers.set(name, (set = new Set()));
    set.add(handler as AnyHandler);
    return this;
  }

  off<U extends keyof ReceiverListener>(name: U, handler: ReceiverListener[U]): this {
    this.handlers.get(name)?.delete(handler as AnyHandler);
    return this;
  }

  /** Subscribe; resolves once events from now on will be delivered. Safe to call twice. */
  start(): Promise<this> {
    if (this.closed) return Promise.reject(new Error('the event receiver is closed'));
    return (this.starting ??= (async () => {
      const broker = await this.broker();
      const off = await broker.subscribeEvents((e) => this.dispatch(e));
      if (this.closed) {
        await off();
        return this;
      }
      this.unsubscribe = off;
      this.unwatch = watchLifecycle(broker, this);
      this.emit('ready');
      return this;
    })().catch((err: unknown) => {
      this.starting = undefined;
      throw err;
    }));
  }

  /**
   * Celery's `capture()`: start if needed, then deliver events until `limit` events, `timeout`
   * seconds, the signal or `close()`, whichever comes first. Resolves with how many it delivered.
   */
  async capture(opts: CaptureOptions = {}): Promise<number> {
    if (opts.limit !== undefined && opts.limit <= 0) return 0;
    const first = this.count;
    let delivered = 0;
    let timer: NodeJS.Timeout | undefined;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    // Counted from the call: events a broker delivers while start() settles are in.
    const done = () => {
      if (!this.captures.delete(check)) return;
      delivered = this.count - first;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', done);
      finish();
    };
    const check = () => {
      if (this.closed || (opts.limit !== undefined && this.count - first >= opts.limit)) done();
    };
    this.captures.add(check);
    try {
      await this.start();
    } catch (err) {
      done();
      throw err;
    }
    if (opts.timeout !== undefined) timer = setLongTimeout(done, opts.timeout * 1000);
    if (opts.signal?.aborted) done();
    else opts.signal?.addEventListener('abort', done);
    check();
    await finished;
    return delivered;
  }

  /** Unsubscribe. Handlers get nothing after this resolves. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of [...this.captures]) c();
    await this.starting?.catch(() => undefined);
    const off = this.unsubscribe;
    this.unsubscribe = undefined;
    this.unwatch?.();
    // The app may have closed the broker first: there is nothing left to unsubscribe from then.
    await off?.().catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private dispatch(e: SprigEvent): void {
    if (this.closed) return;
    this.count++;
    this.state?.apply(e);
    this.call(this.handlers.get(e.type), e);
    this.call(this.handlers.get('*'), e);
    for (const c of [...this.captures]) c();
  }

  private call(set: Set<AnyHandler> | undefined, e: SprigEvent): void {
    if (!set) return;
    for (const h of set) {
      try {
        (h as (e: SprigEvent) => void)(e);
      } catch (err) {
        const onError = this.handlers.get('error');
        if (onError?.size) for (const eh of onError) (eh as ReceiverLifecycle['error'])(err, e);
        else process.stderr.write(`sprig: event handler for ${e.type} threw: ${(err as Error)?.stack ?? String(err)}\n`);
      }
    }
  }

  private emit<U extends 'ready' | 'disconnected' | 'reconnected'>(name: U, ...args: Parameters<ReceiverLifecycle[U]>): void {
    for (const h of this.handlers.get(name) ?? []) (h as (...a: unknown[]) => void)(...args);
  }

  /** @internal */
  onDisconnect(): void {
    if (this.closed || this.downSince !== undefined) return;
    this.downSince = Date.now() / 1000;
    this.emit('disconnected', this.downSince);
  }

  /** @internal */
  onReconnect(): void {
    if (this.closed) return;
    const gap = { from: this.downSince ?? Date.now() / 1000, to: Date.now() / 1000 };
    this.downSince = undefined;
    this.gaps.push(gap);
    if (this.gaps.length > 100) this.gaps.shift();
    this.emit('reconnected', gap);
  }
}

/** `app.events`: receivers and state on the app's broker connection. */
export class AppEvents {
  constructor(private readonly broker: () => Promise<Broker>) {}

  /**
   * A receiver with these handlers (not started: `await r.start()`, or `await r.capture()`).
   * `{ state }` applies every event to a ClusterState first.
   */
  receiver(handlers: ReceiverHandlers = {}, opts: ReceiverOptions = {}): EventReceiver {
    return new EventReceiver(this.broker, handlers, opts);
  }

  /** The cluster state the CLI and the monitor rebuild (Celery's `app.events.State()`). */
  state(opts: ClusterStateOptions = {}): ClusterState {
    return new ClusterState(opts);
  }
}

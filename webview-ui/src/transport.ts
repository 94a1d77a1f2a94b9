/**
 * The webview's one transport to the extension, over the typed protocol (protocol.ts): commands go
 * out with `send`; a request goes out with an id and its promise settles when the Reply of that id
 * comes back; every other message is handed, once its guard has passed, to the handler of its
 * method. No DOM types: the unit tests drive it with a fake host.
 */
import {
  isConnection,
  isEvents,
  isMode,
  isPaused,
  isReply,
  isReveal,
  isSnapshot,
  type ConnectionNotification,
  type ModeNotification,
  type EventsNotification,
  type PausedNotification,
  type Reply,
  type Request,
  type RequestMap,
  type RequestMethod,
  type RevealNotification,
  type SnapshotNotification,
  type WebviewCommand,
} from '../../extension/src/monitor/protocol.js';

/** The part of what acquireVsCodeApi() returns that the monitor uses. */
export interface VsCodeApi {
  postMessage(m: unknown): void;
}

/** Where the extension's messages arrive: the webview's window. */
export interface MessageSource {
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void;
}

/** One handler per notification the extension sends. */
export interface NotificationHandlers {
  snapshot(m: SnapshotNotification): void;
  events(m: EventsNotification): void;
  connection(m: ConnectionNotification): void;
  reveal(m: RevealNotification): void;
  /** Paused or resumed from the command palette. */
  paused(m: PausedNotification): void;
  /** What the page may do (the browser monitor: read-only unless --allow-actions). */
  mode?(m: ModeNotification): void;
}

export class Transport {
  private nextId = 1;
  private readonly pending = new Map<number, (r: Reply) => void>();

  constructor(private readonly api: VsCodeApi) {}

  /** Dispatches the messages arriving at `source` (once, at start). */
  listen(source: MessageSource, on: NotificationHandlers): void {
    source.addEventListener('message', (e) => {
      const m = e.data;
      if (isEvents(m)) on.events(m);
      else if (isSnapshot(m)) on.snapshot(m);
      else if (isConnection(m)) on.connection(m);
      else if (isReveal(m)) on.reveal(m);
      else if (isPaused(m)) on.paused(m);
      else if (isMode(m)) on.mode?.(m);
      else if (isReply(m)) this.settle(m);
    });
  }

  send(m: WebviewCommand): void {
    this.api.postMessage(m);
  }

  request<M extends RequestMethod>(method: M, params: RequestMap[M]['params']): Promise<Reply<M>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve as (r: Reply) => void);
      const m: Request<M> = { method, id, params };
      this.api.postMessage(m);
    });
  }

  private settle(r: Reply): void {
    const resolve = this.pending.get(r.id);
    this.pending.delete(r.id);
    resolve?.(r);
  }
}

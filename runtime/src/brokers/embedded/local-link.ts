import { ConnectionError } from '../../errors.js';
import type { Hub, Session } from './hub.js';
import type { HubLink, OpName, OpRequest, OpResult, PushFrame, RequestFrame } from './protocol.js';

/**
 * A HubLink to a Hub in this process (memory://): the same requests and pushes as the WebSocket,
 * as objects. Requests run in a microtask, as they would arrive from a socket, so a delivery
 * handler that acks never re-enters the Hub.
 */
export class LocalLink implements HubLink {
  private session: Session | undefined;
  private closed = false;
  private readonly listeners = new Set<(f: PushFrame) => void>();

  constructor(private readonly hub: Hub) {}

  get isOpen(): boolean {
    return !this.closed;
  }

  async connect(): Promise<void> {
    this.open();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.session) this.hub.closeSession(this.session);
  }

  request<K extends OpName>(op: K, params: OpRequest<K>): Promise<OpResult<K>> {
    return Promise.resolve().then(() => this.hub.handle(this.open(), { op, ...params } as RequestFrame) as OpResult<K>);
  }

  notify<K extends OpName>(op: K, params: OpRequest<K>): void {
    if (!this.closed) this.request(op, params).catch(() => undefined);
  }

  onPush(listener: (f: PushFrame) => void): void {
    this.listeners.add(listener);
  }

  /** Never reconnects: nothing to re-make. */
  onOpen(): void {}

  on(): void {}

  private open(): Session {
    if (this.closed) throw new ConnectionError('the in-process broker connection is closed');
    const push = (f: PushFrame) => {
      for (const l of this.listeners) l(f);
    };
    return (this.session ??= this.hub.openSession({
      deliver: (items) => push({ push: 'deliver', items }),
      events: (events) => push({ push: 'events', events }),
      control: (request) => push({ push: 'control', request }),
      backlog: () => 0,
    }));
  }
}

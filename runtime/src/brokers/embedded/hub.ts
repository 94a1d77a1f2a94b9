/**
 * The embedded broker's state: queues, held (unacked) messages per connection, results, event and
 * control fan-out, reply lists. Network-free so the semantics can be read (and tested) in one place;
 * server.ts feeds it frames from WebSockets and makes it durable with the journal; memory:// runs
 * the same Hub in-process with no journal (local-link.ts).
 */
import { randomBytes } from 'node:crypto';
import { ResultStore } from '../../backends/memory.js';
import { ChordStore } from '../../backends/chord-store.js';
import { READY_STATES, type ResultMeta } from '../../backends/types.js';
import { ProtocolError } from '../../errors.js';
import type { SprigEvent } from '../../events/types.js';
import type { Logger } from '../../util/log.js';
import { deadLetterEntry, DEFAULT_DEAD_LETTER_LIMITS, encodeDeadLetter, type DeadLetterLimits } from '../dead-letter.js';
import { PriorityFifo } from '../priority-queue.js';
import { prefetchCount, QoS } from '../qos.js';
import type { ControlRequest } from '../../protocol/control.js';
import { deadLetterQueueName } from '../types.js';
import { EMPTY_STATE, type Compactor, type JournalPort, type JournalRecord, type ReplayState } from './journal.js';
import { PROTOCOL_VERSION, type DeliveryItem, type PublishItem, type RequestFrame } from './protocol.js';
import { setLongTimeout } from '../../util/timers.js';
import { HubLeases } from './hub-leases.js';
import type { LeaseCommitResult, LeaseStateChange } from '../lease.js';

/** Where the hub sends pushes for one connection. */
export interface SessionSink {
  deliver(items: DeliveryItem[]): void;
  events(events: SprigEvent[]): void;
  control(request: ControlRequest): void;
  /** Bytes waiting on the socket: events are dropped for a subscriber this far behind. */
  backlog(): number;
}

interface Msg {
  tag: string;
  /**
   * The envelope's UTF-8 bytes: a Buffer keeps a backlog off the JS heap (the GC does not trace or
   * copy it), and it is what the journal stores; a delivery makes the string of it.
   */
  raw: Buffer;
  priority: number;
  /**
   * Absent: false. A replayed or published message is its journal record itself (one object per
   * message less to build and for the GC to copy; 1M of them on a restart).
   */
  redelivered?: boolean;
}

interface HubConsumer {
  id: string;
  session: Session;
  queues: string[];
  prefetch: number;
  held: number;
  active: boolean;
}

export class Session {
  readonly consumers = new Map<string, HubConsumer>();
  /** In delivery order, so a dropped connection's messages go back in the order they left. */
  readonly qos = new QoS<HubConsumer, { queue: string; msg: Msg }>();
  readonly cleanups = new Set<() => void>();
  outbox: DeliveryItem[] = [];
  events = false;
  control = false;
  constructor(readonly sink: SessionSink) {}
}

interface Collector {
  out: unknown[];
  expected?: number;
  finish(): void;
}

const REPLY_TTL_MS = 60_000;
const SWEEP_MS = 60_000;
const EVENT_BACKLOG_LIMIT = 16 * 1024 * 1024;
/** Rough per-result weight for the compaction heuristic (results are small next to message bodies). */
const RESULT_WEIGHT = 512;

/** A client's limit if it is a positive integer, else the default. */
function positiveOr(v: unknown, d: number): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : d;
}

export class Hub implements Compactor {
  private readonly queues = new Map<string, PriorityFifo<Msg>>();
  private readonly sessions = new Set<Session>();
  private consumers: HubConsumer[] = [];
  private readonly results = new ResultStore();
  /** Chord joins (not journaled: a join in progress does not survive a broker restart). */
  private readonly chords = new ChordStore();
  private readonly replies = new Map<string, Array<{ body: unknown; at: number }>>();
  private readonly collectors = new Map<string, Collector[]>();
  private readonly bootId = randomBytes(4).toString('hex');
  private seq = 0;
  private live = 0;
  private rr = 0;
  private dispatchScheduled = false;
  private readonly sweeper: NodeJS.Timeout;
  private readonly leases: HubLeases;

  constructor(
    private readonly journal: JournalPort,
    state: ReplayState = EMPTY_STATE,
    private readonly log?: Logger,
  ) {
    for (const m of state.messages) {
      this.queue(m.queue).push(m, m.priority);
      this.live += m.raw.length;
    }
    for (const r of state.results) {
      this.results.set(r.meta, Math.max(0, (r.expiresAt - Date.now()) / 1000));
    }
    this.leases = new HubLeases(state.leaseState);
    journal.setCompactor(this);
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  openSession(sink: SessionSink): Session {
    const s = new Session(sink);
    this.sessions.add(s);
    return s;
  }

  /** The connection is gone: its held messages go back to the front of their queues, redelivered. */
  closeSession(s: Session): void {
    if (!this.sessions.delete(s)) return;
    for (const c of s.consumers.values()) c.active = false;
    this.consumers = this.consumers.filter((c) => c.session !== s);
    const held = s.qos.drain();
    for (let i = held.length - 1; i >= 0; i--) {
      const { queue, msg } = held[i]!.value;
      this.queue(queue).unshift({ ...msg, redelivered: true }, msg.priority);
    }
    for (const f of [...s.cleanups]) f();
    s.cleanups.clear();
    if (held.length > 0) this.log?.debug(`connection closed: ${held.length} unacked messages requeued`);
    this.schedule();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const s of [...this.sessions]) this.closeSession(s);
    for (const list of this.collectors.values()) for (const c of [...list]) c.finish();
  }

  // ---- messages ---------------------------------------------------------------------------

  /** `extra`: records made durable in the same commit (a beat commit's state). */
  async publish(items: readonly PublishItem[], extra: readonly JournalRecord[] = []): Promise<number> {
    const records: Array<JournalRecord & { t: 'p' }> = [];
    for (const it of items) {
      if (!it || typeof it.queue !== 'string' || !it.queue || typeof it.raw !== 'string') {
        throw new ProtocolError('publish: each item needs a queue name and a raw envelope string');
      }
      const priority = PriorityFifo.level(it.priority);
      records.push({ t: 'p', tag: this.nextTag(), queue: it.queue, priority, raw: Buffer.from(it.raw, 'utf8') });
    }
    if (records.length === 0 && extra.length === 0) return 0;
    // Into the queues only once durable: nothing is delivered that a crash could take back.
    await this.journal.commit([...extra, ...records], () => {
      for (const r of records) {
        this.queue(r.queue).push(r, r.priority);
        this.live += r.raw.length;
      }
      this.schedule();
    });
    return records.length;
  }

  consume(s: Session, id: string, queues: string[], prefetch: number): void {
    if (!Array.isArray(queues) || queues.some((q) => typeof q !== 'string')) {
      throw new ProtocolError('consume: queues must be an array of names');
    }
    let c = s.consumers.get(id);
    if (c) {
      c.queues = queues;
      c.prefetch = prefetchCount(prefetch);
      if (!c.active) {
        c.active = true;
        this.consumers.push(c);
      }
    } else {
      c = { id, session: s, queues, prefetch: prefetchCount(prefetch), held: 0, active: true };
      s.consumers.set(id, c);
      this.consumers.push(c);
    }
    this.schedule();
  }

  setPrefetch(s: Session, id: string, prefetch: number): void {
    const c = s.consumers.get(id);
    if (!c) return;
    c.prefetch = prefetchCount(prefetch);
    this.schedule();
  }

  /** Stop delivering; what the consumer holds stays held until acked/rejected or the connection goes. */
  cancel(s: Session, id: string): void {
    const c = s.consumers.get(id);
    if (!c) return;
    c.active = false;
    this.consumers = this.consumers.filter((x) => x !== c);
  }

  /** Only tags this connection holds count: after a reconnect, old deliveries were already requeued. */
  ack(s: Session, tags: readonly string[]): void {
    const done: string[] = [];
    for (const tag of tags) {
      const h = s.qos.settle(tag);
      if (!h) continue;
      this.live -= h.value.msg.raw.length;
      done.push(tag);
    }
    if (done.length === 0) return;
    this.journal.append([{ t: 'a', tags: done }]);
    this.schedule();
  }

  reject(s: Session, tag: string, requeue: boolean, reason: string | undefined, limits: DeadLetterLimits = DEFAULT_DEAD_LETTER_LIMITS): void {
    const h = s.qos.settle(tag)?.value;
    if (!h) return;
    if (requeue) {
      this.queue(h.queue).unshift({ ...h.msg, redelivered: true }, h.msg.priority);
    } else {
      const queue = deadLetterQueueName(h.queue);
      const text = encodeDeadLetter(deadLetterEntry({ queue: h.queue, raw: h.msg.raw.toString('utf8') }, reason, { limits }));
      const raw = Buffer.from(text, 'utf8');
      const newTag = this.nextTag();
      this.journal.append([{ t: 'm', tag, newTag, queue, raw: text }]);
      const dlq = this.queue(queue);
      dlq.push({ tag: newTag, raw, priority: 0, redelivered: false }, 0);
      this.live += raw.length - h.msg.raw.length;
      // The oldest dead letters go first past maxLength (acked in the journal, so a replay agrees).
      const dropped: string[] = [];
      while (dlq.length > limits.maxLength) {
        const old = dlq.shift()!;
        this.live -= old.raw.length;
        dropped.push(old.tag);
      }
      if (dropped.length) this.journal.append([{ t: 'a', tags: dropped }]);
    }
    this.schedule();
  }

  purge(queue: string): number {
    const q = this.queues.get(queue);
    if (!q || q.length === 0) return 0;
    const tags: string[] = [];
    for (const m of q.values()) {
      tags.push(m.tag);
      this.live -= m.raw.length;
    }
    q.clear();
    // Acks per tag rather than a "purge queue" record: held messages of that queue must survive replay.
    this.journal.append([{ t: 'a', tags }]);
    return tags.length;
  }

  queueLength(queue: string): number {
    return this.queues.get(queue)?.length ?? 0;
  }

  /** Queues that hold messages or dead letters, or that someone consumes. */
  listQueues(): string[] {
    const names = new Set<string>();
    for (const [q, fifo] of this.queues) if (fifo.length > 0) names.add(q.replace(/\.dead-letter$/, ''));
    for (const c of this.consumers) if (c.active) for (const q of c.queues) names.add(q);
    return [...names].sort();
  }

  queueStats(queue: string): { waiting: number; reserved: number; deadLetter: number; consumers: number } {
    let reserved = 0;
    for (const s of this.sessions) for (const h of s.qos.values()) if (h.value.queue === queue) reserved++;
    const consumers = this.consumers.filter((c) => c.active && c.queues.includes(queue)).length;
    return { waiting: this.queueLength(queue), reserved, deadLetter: this.queueLength(deadLetterQueueName(queue)), consumers };
  }

  /** The oldest dead letter of `queue`, moved to the newest end (the broker's moveDeadLetter decides next). */
  takeDeadLetter(queue: string): { tag: string; raw: string } | null {
    const dlq = this.queues.get(deadLetterQueueName(queue));
    const m = dlq?.shift();
    if (!dlq || !m) return null;
    dlq.push(m, 0);
    return { tag: m.tag, raw: m.raw.toString('utf8') };
  }

  /** The dead letter `tag` leaves, and `raw` (the message it held) is published to `queue`, in one journal commit. */
  async requeueDeadLetter(queue: string, tag: string, raw: string, priority: number): Promise<boolean> {
    const dlq = this.queues.get(deadLetterQueueName(queue));
    if (!dlq || typeof raw !== 'string') return false;
    const all = [...dlq.values()];
    const gone = all.find((m) => m.tag === tag);
    if (!gone) return false;
    dlq.clear();
    for (const m of all) if (m !== gone) dlq.push(m, 0);
    this.live -= gone.raw.length;
    await this.publish([{ queue, priority, raw }], [{ t: 'a', tags: [tag] }]);
    return true;
  }

  // ---- beat leases (lease.ts) -------------------------------------------------------------

  /** Record a beat's runs and publish their messages in one journal commit, if the lease and state allow. */
  async leaseCommit(name: string, holder: string, changes: readonly LeaseStateChange[], items: readonly PublishItem[]): Promise<LeaseCommitResult> {
    // Checked before the state changes: a bad item must not leave a run recorded and not sent.
    if (!Array.isArray(items) || items.some((it) => !it || typeof it.queue !== 'string' || !it.queue || typeof it.raw !== 'string')) {
      throw new ProtocolError('leaseCommit: items must be [{ queue, priority, raw }] with a queue name and a raw envelope string');
    }
    const { result, records } = this.leases.commitState(name, holder, changes);
    if (result === 'ok') await this.publish(items, records);
    return result;
  }

  // ---- results ----------------------------------------------------------------------------

  resultSet(meta: ResultMeta, expiresSec: number): void {
    if (!meta || typeof meta.task_id !== 'string') throw new ProtocolError('resultSet: meta.task_id is required');
    const secs = Number.isFinite(expiresSec) && expiresSec > 0 ? expiresSec : 86400;
    this.results.set(meta, secs);
    this.journal.append([{ t: 'r', meta, expiresAt: Date.now() + secs * 1000 }]);
  }

  resultGet(taskId: string): ResultMeta | null {
    return this.results.get(taskId);
  }

  resultForget(taskId: string): void {
    this.results.delete(taskId);
    this.journal.append([{ t: 'f', taskId }]);
  }

  resultWait(s: Session, taskId: string, timeoutMs: number | undefined): Promise<ResultMeta | null> {
    const now = this.results.get(taskId);
    if (now && READY_STATES.has(now.status)) return Promise.resolve(now);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (v: ResultMeta | null) => {
        off();
        if (timer) clearTimeout(timer);
        s.cleanups.delete(gone);
        resolve(v);
      };
      const gone = () => finish(null);
      const off = this.results.watch(taskId, (meta) => {
        if (READY_STATES.has(meta.status)) finish(meta);
      });
      if (typeof timeoutMs === 'number') timer = setLongTimeout(gone, Math.max(0, timeoutMs));
      s.cleanups.add(gone);
    });
  }

  // ---- events and control -----------------------------------------------------------------

  subscribeEvents(s: Session, on: boolean): void {
    s.events = on;
  }

  publishEvents(events: SprigEvent[]): void {
    if (!Array.isArray(events) || events.length === 0) return;
    for (const s of this.sessions) {
      if (s.events && s.sink.backlog() < EVENT_BACKLOG_LIMIT) s.sink.events(events);
    }
  }

  subscribeControl(s: Session, on: boolean): void {
    s.control = on;
  }

  broadcast(request: ControlRequest): void {
    for (const s of this.sessions) if (s.control) s.sink.control(request);
  }

  /** Like LPUSH on a pidbox reply key: the first waiting collector takes it, else it waits in the list. */
  replyPush(key: string, body: unknown): void {
    const waiting = this.collectors.get(key);
    const c = waiting?.[0];
    if (c) {
      c.out.push(body);
      if (c.expected !== undefined && c.out.length >= c.expected) c.finish();
      return;
    }
    let list = this.replies.get(key);
    if (!list) this.replies.set(key, (list = []));
    list.push({ body, at: Date.now() });
  }

  replyCollect(s: Session, key: string, timeoutMs: number, expected: number | undefined): Promise<unknown[]> {
    const out: unknown[] = [];
    const list = this.replies.get(key);
    if (list) {
      const take = expected === undefined ? list.length : Math.min(list.length, expected);
      for (const r of list.splice(0, take)) out.push(r.body);
      if (list.length === 0) this.replies.delete(key);
    }
    if (expected !== undefined && out.length >= expected) return Promise.resolve(out);
    return new Promise((resolve) => {
      const c: Collector = {
        out,
        expected,
        finish: () => {
          clearTimeout(timer);
          s.cleanups.delete(c.finish);
          const l = this.collectors.get(key);
          if (l) {
            const i = l.indexOf(c);
            if (i >= 0) l.splice(i, 1);
            if (l.length === 0) this.collectors.delete(key);
          }
          resolve(out);
        },
      };
      const timer = setLongTimeout(c.finish, Math.max(0, timeoutMs));
      s.cleanups.add(c.finish);
      let l = this.collectors.get(key);
      if (!l) this.collectors.set(key, (l = []));
      l.push(c);
    });
  }

  // ---- requests ----------------------------------------------------------------------------

  /** One request of connection `s` (protocol.ts): its reply value, or a promise of it. */
  handle(s: Session, f: RequestFrame): unknown {
    switch (f.op) {
      case 'ping':
        return { pid: process.pid, version: PROTOCOL_VERSION };
      case 'publish':
        if (!Array.isArray(f.items)) throw new ProtocolError('publish: items must be an array');
        return this.publish(f.items).then((count) => ({ count }));
      case 'consume':
        return this.consume(s, String(f.consumerId), f.queues, f.prefetch);
      case 'setPrefetch':
        return this.setPrefetch(s, String(f.consumerId), f.prefetch);
      case 'cancel':
        return this.cancel(s, String(f.consumerId));
      case 'ack':
        return this.ack(s, Array.isArray(f.tags) ? f.tags : []);
      case 'reject':
        return this.reject(s, String(f.tag), f.requeue === true, typeof f.reason === 'string' ? f.reason : undefined, {
          maxBytes: positiveOr(f.maxBytes, DEFAULT_DEAD_LETTER_LIMITS.maxBytes),
          maxLength: positiveOr(f.maxLength, DEFAULT_DEAD_LETTER_LIMITS.maxLength),
        });
      case 'purge':
        return this.purge(String(f.queue));
      case 'queueLength':
        return this.queueLength(String(f.queue));
      case 'listQueues':
        return this.listQueues();
      case 'queueStats':
        return this.queueStats(String(f.queue));
      case 'takeDeadLetter':
        return this.takeDeadLetter(String(f.queue));
      case 'requeueDeadLetter':
        return this.requeueDeadLetter(String(f.queue), String(f.tag), f.raw, PriorityFifo.level(f.priority));
      case 'resultSet':
        return this.resultSet(f.meta, f.expiresSec);
      case 'resultGet':
        return this.resultGet(String(f.taskId));
      case 'resultWait':
        return this.resultWait(s, String(f.taskId), typeof f.timeoutMs === 'number' ? f.timeoutMs : undefined);
      case 'resultForget':
        return this.resultForget(String(f.taskId));
      case 'chordSize':
        if (!Number.isSafeInteger(f.size) || f.size < 0) throw new ProtocolError('chordSize: size must be an integer >= 0');
        return this.chords.setSize(String(f.groupId), f.size);
      case 'chordPart':
        if (!f.part || typeof f.part.taskId !== 'string' || typeof f.part.groupId !== 'string') throw new ProtocolError('chordPart: part.groupId and part.taskId are required');
        return this.chords.partReturn(f.part);
      case 'chordDone':
        return this.chords.done(String(f.groupId));
      case 'chordAdd':
        if (typeof f.groupId !== 'string' || !f.groupId) throw new ProtocolError('chordAdd: groupId must be a non-empty string');
        if (!Number.isSafeInteger(f.n) || f.n < 1 || f.n > 1_000_000) throw new ProtocolError('chordAdd: n must be an integer from 1 to 1000000');
        return this.chords.add(f.groupId, f.n);
      case 'eventPublish':
        return this.publishEvents(f.events);
      case 'subscribeEvents':
        return this.subscribeEvents(s, f.on !== false);
      case 'controlBroadcast':
        return this.broadcast(f.request);
      case 'subscribeControl':
        return this.subscribeControl(s, f.on !== false);
      case 'replyPush':
        return this.replyPush(String(f.key), f.body);
      case 'leaseAcquire':
        return this.leases.acquire(f.name, f.holder, Number(f.ttlMs));
      case 'leaseRelease':
        return this.leases.release(String(f.name), String(f.holder));
      case 'leaseRead':
        return this.leases.read(f.name);
      case 'leaseCommit':
        return this.leaseCommit(f.name, String(f.holder), f.changes, f.items);
      case 'replyCollect':
        return this.replyCollect(s, String(f.key), Number(f.timeoutMs) || 0, typeof f.expected === 'number' ? f.expected : undefined);
    }
  }

  // ---- compaction (Compactor) -------------------------------------------------------------

  liveBytes(): number {
    let n = this.live;
    for (const _ of this.results.entries()) n += RESULT_WEIGHT;
    return n;
  }

  *snapshot(): Iterable<JournalRecord> {
    // Held messages first: they left the front of their queues, and come back there after a restart.
    for (const s of this.sessions) {
      for (const { value: h } of s.qos.values()) {
        yield { t: 'p', tag: h.msg.tag, queue: h.queue, priority: h.msg.priority, raw: h.msg.raw };
      }
    }
    for (const [queue, q] of this.queues) {
      for (const m of q.values()) yield { t: 'p', tag: m.tag, queue, priority: m.priority, raw: m.raw };
    }
    const now = Date.now();
    for (const [, r] of this.results.entries()) {
      if (r.expiresAt > now) yield { t: 'r', meta: r.meta, expiresAt: r.expiresAt };
    }
    yield* this.leases.records();
  }

  // ---- internals --------------------------------------------------------------------------

  private nextTag(): string {
    return `${this.bootId}.${(++this.seq).toString(36)}`;
  }

  private queue(name: string): PriorityFifo<Msg> {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = new PriorityFifo()));
    return q;
  }

  private schedule(): void {
    if (this.dispatchScheduled) return;
    this.dispatchScheduled = true;
    // One dispatch per loop turn: a burst of acks or publishes becomes one delivery frame per connection.
    setImmediate(() => {
      this.dispatchScheduled = false;
      this.dispatch();
    });
  }

  /** Round-robin, one message per consumer per round, so equal consumers share a backlog fairly. */
  private dispatch(): void {
    const cs = this.consumers;
    const n = cs.length;
    if (n === 0) return;
    const touched = new Set<Session>();
    let progress = true;
    while (progress) {
      progress = false;
      for (let i = 0; i < n; i++) {
        const c = cs[(this.rr + i) % n]!;
        if (!c.active || c.held >= c.prefetch) continue;
        let msg: Msg | undefined;
        let queue = '';
        for (const name of c.queues) {
          msg = this.queues.get(name)?.shift();
          if (msg) {
            queue = name;
            break;
          }
        }
        if (!msg) continue;
        c.session.qos.hold(c, msg.tag, { queue, msg });
        c.session.outbox.push({ c: c.id, tag: msg.tag, queue, raw: msg.raw.toString('utf8'), redelivered: msg.redelivered === true });
        touched.add(c.session);
        progress = true;
      }
    }
    this.rr = (this.rr + 1) % n;
    for (const s of touched) {
      const items = s.outbox;
      s.outbox = [];
      s.sink.deliver(items);
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id] of this.results.entries()) this.results.get(id); // get() drops expired entries
    this.chords.sweep(now);
    for (const [key, list] of this.replies) {
      while (list.length > 0 && now - list[0]!.at > REPLY_TTL_MS) list.shift();
      if (list.length === 0) this.replies.delete(key);
    }
  }
}

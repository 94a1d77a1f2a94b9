/**
 * The embedded broker's wire protocol: JSON text frames over one WebSocket per client.
 *
 * - Request  (client -> server): `{ id?, op, ...params }`. With an `id` the server answers with a
 *   Reply carrying the same id; without one the request is fire-and-forget (events, acks nobody waits for).
 * - Reply    (server -> client): `{ re: id, ok: true, value }` or `{ re: id, ok: false, error: { code, message } }`.
 * - Push     (server -> client): `{ push: 'deliver' | 'events' | 'control', ... }`; deliveries and events
 *   travel as arrays so a drain of thousands of messages costs a handful of frames.
 *
 * Messages are carried as the kombu JSON envelope string (`raw`), the same bytes the journal stores.
 */
import type { ChordEntry, ChordPart, ResultMeta } from '../../backends/types.js';
import type { SprigEvent } from '../../events/types.js';
import type { ControlRequest } from '../../protocol/control.js';
import type { LeaseCommitResult, LeaseSnapshot, LeaseStateChange } from '../lease.js';

export const PROTOCOL_VERSION = 1;

export interface PublishItem {
  queue: string;
  /** 0..9, lower first (kombu's Redis order). */
  priority: number;
  /** The kombu JSON envelope. */
  raw: string;
}

export interface DeliveryItem {
  /** Consumer id chosen by the client in `consume`. */
  c: string;
  tag: string;
  queue: string;
  raw: string;
  redelivered: boolean;
}

/** Every operation: its request parameters and its reply value. */
export interface Ops {
  ping: { req: Record<string, never>; res: { pid: number; version: number } };
  publish: { req: { items: PublishItem[] }; res: { count: number } };
  consume: { req: { consumerId: string; queues: string[]; prefetch: number }; res: null };
  setPrefetch: { req: { consumerId: string; prefetch: number }; res: null };
  cancel: { req: { consumerId: string }; res: null };
  ack: { req: { tags: string[] }; res: null };
  /** maxBytes/maxLength: the client's dead-letter limits (dead-letter.ts); absent: the defaults. */
  reject: { req: { tag: string; requeue: boolean; reason?: string; maxBytes?: number; maxLength?: number }; res: null };
  purge: { req: { queue: string }; res: number };
  queueLength: { req: { queue: string }; res: number };
  resultSet: { req: { meta: ResultMeta; expiresSec: number }; res: null };
  resultGet: { req: { taskId: string }; res: ResultMeta | null };
  /** Replies with the ready meta, or null when `timeoutMs` passed first (no timeout: wait forever). */
  resultWait: { req: { taskId: string; timeoutMs?: number }; res: ResultMeta | null };
  resultForget: { req: { taskId: string }; res: null };
  /** Chord joins (backends/chord-store.ts). */
  chordSize: { req: { groupId: string; size: number }; res: null };
  chordPart: { req: { part: ChordPart }; res: ChordEntry[] | null };
  chordDone: { req: { groupId: string }; res: null };
  /** Celery's add_to_chord: the join waits for `n` more parts. */
  chordAdd: { req: { groupId: string; n: number }; res: null };
  eventPublish: { req: { events: SprigEvent[] }; res: null };
  subscribeEvents: { req: { on: boolean }; res: null };
  controlBroadcast: { req: { request: ControlRequest }; res: null };
  subscribeControl: { req: { on: boolean }; res: null };
  /** Append to the reply list `key` (Redis-list-like; entries expire after a minute). */
  replyPush: { req: { key: string; body: unknown }; res: null };
  /** Pop replies from `key` until `expected` arrived or `timeoutMs` passed (undefined: the whole timeout). */
  replyCollect: { req: { key: string; timeoutMs: number; expected?: number }; res: unknown[] };
  /** Beat leases (lease.ts): take or renew; give up; read with the state; record-and-publish. */
  leaseAcquire: { req: { name: string; holder: string; ttlMs: number }; res: boolean };
  leaseRelease: { req: { name: string; holder: string }; res: null };
  leaseRead: { req: { name: string }; res: LeaseSnapshot };
  leaseCommit: { req: { name: string; holder: string; changes: LeaseStateChange[]; items: PublishItem[] }; res: LeaseCommitResult };
  /** Stop the broker (replies first): how a client stops it without a signal, which Windows lacks. */
  shutdown: { req: Record<string, never>; res: { pid: number } };
}

export type OpName = keyof Ops;
export type OpRequest<K extends OpName> = Ops[K]['req'];
export type OpResult<K extends OpName> = Ops[K]['res'];

export type RequestFrame = { [K in OpName]: { id?: number; op: K } & Ops[K]['req'] }[OpName];

export interface ErrorBody {
  code: string;
  message: string;
}

export type ReplyFrame = { re: number; ok: true; value: unknown } | { re: number; ok: false; error: ErrorBody };

export type PushFrame =
  | { push: 'deliver'; items: DeliveryItem[] }
  | { push: 'events'; events: SprigEvent[] }
  | { push: 'control'; request: ControlRequest };

export type ServerFrame = ReplyFrame | PushFrame;

const OP_NAMES: ReadonlySet<string> = new Set<OpName>([
  'ping',
  'publish',
  'consume',
  'setPrefetch',
  'cancel',
  'ack',
  'reject',
  'purge',
  'queueLength',
  'resultSet',
  'resultGet',
  'resultWait',
  'resultForget',
  'chordSize',
  'chordPart',
  'chordDone',
  'chordAdd',
  'eventPublish',
  'subscribeEvents',
  'controlBroadcast',
  'subscribeControl',
  'replyPush',
  'replyCollect',
  'leaseAcquire',
  'leaseRelease',
  'leaseRead',
  'leaseCommit',
  'shutdown',
]);

/** Shape check only: the server validates each op's fields where a bad value would corrupt state. */
export function isRequestFrame(v: unknown): v is RequestFrame {
  if (!v || typeof v !== 'object') return false;
  const f = v as { id?: unknown; op?: unknown };
  return typeof f.op === 'string' && OP_NAMES.has(f.op) && (f.id === undefined || typeof f.id === 'number');
}

export function isReplyFrame(v: ServerFrame): v is ReplyFrame {
  return typeof (v as { re?: unknown }).re === 'number';
}

export function isServerFrame(v: unknown): v is ServerFrame {
  if (!v || typeof v !== 'object') return false;
  const f = v as { re?: unknown; push?: unknown };
  return typeof f.re === 'number' || f.push === 'deliver' || f.push === 'events' || f.push === 'control';
}

/**
 * What happens to a request in flight when the connection drops:
 * 'resend' after reconnecting (publishes: at-least-once), 'drop' resolves it with null (acks: the
 * message is redelivered anyway; subscriptions: re-made by the open hooks), 'fail' rejects it.
 */
export type OnDrop = 'resend' | 'drop' | 'fail';

/**
 * A client's way to a Hub: the WebSocket to the embedded broker process (client.ts), or a Hub in
 * this process (local-link.ts, memory://). Requests and pushes are the frames above.
 */
export interface HubLink {
  readonly isOpen: boolean;
  connect(): Promise<void>;
  close(): Promise<void>;
  request<K extends OpName>(op: K, params: OpRequest<K>, onDrop?: OnDrop): Promise<OpResult<K>>;
  /** Fire-and-forget; dropped while disconnected. */
  notify<K extends OpName>(op: K, params: OpRequest<K>): void;
  onPush(listener: (f: PushFrame) => void): void;
  /** Runs after every (re)connect, before queued requests go out: re-make subscriptions here. */
  onOpen(hook: () => void): void;
  on(event: 'reconnect' | 'disconnect', listener: () => void): void;
}

/** Path of the health probe (HTTP GET with the same bearer token; 200 with {pid, version}). */
export const HEALTH_PATH = '/health';

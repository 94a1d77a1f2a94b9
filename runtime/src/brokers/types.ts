import type { TransportMessage } from '../protocol/message.js';
import type { SprigEvent } from '../events/types.js';
import type { ResultBackend } from '../backends/types.js';
import type { ControlRequest } from '../protocol/control.js';
import type { LeaseStore } from './lease.js';
import type { DeadLetterEntry } from './dead-letter.js';

/** @deprecated import it from `protocol/control.js` (or the package); this re-export goes after one release. */
export type { ControlRequest } from '../protocol/control.js';

/**
 * One broker contract. What every broker does the same way is written once beside it: held and
 * prefetch accounting in qos.ts (kombu's QoS), the dead-letter entry in dead-letter.ts, connection
 * resilience in util/resilience.ts; an adapter moves messages and declares what differs here.
 */
export interface BrokerCapabilities {
  /** Priority order of the transport: 'lower-first' (kombu on Redis: 0 is highest) or 'higher-first' (AMQP). */
  priorities: 'lower-first' | 'higher-first' | 'none';
  /** A message held longer than this (ms) without ack is redelivered (the worker touches what it holds); undefined: on disconnect only. */
  visibilityTimeoutMs?: number;
  /**
   * A bulk enqueue (App.sendMany) hands the broker batches of at most this many messages, building
   * the next while the broker sends the last (PostgreSQL: INSERTs in parallel on its pool; such a
   * sendMany is not all-or-nothing). Undefined: one batch.
   */
  publishChunk?: number;
}

/** A queue's counts as its broker knows them; undefined: this broker cannot tell (queue-admin.ts asks the workers). */
export interface BrokerQueueStats {
  /** Ready to be delivered. */
  waiting: number;
  /** Delivered to a consumer and not acknowledged yet (ETA tasks a worker holds included). */
  reserved?: number;
  /** Held back until their ETA by the broker itself (PostgreSQL's visible_at, RabbitMQ delay levels). */
  scheduled?: number;
  deadLetter: number;
  /** Consumers attached (RabbitMQ counts them; a Redis list cannot). */
  consumers?: number;
}

/** A dead letter taken by moveDeadLetter: its entry, and the message it holds decoded (or why not). */
export interface TakenDeadLetter {
  entry: DeadLetterEntry;
  message?: TransportMessage;
  error?: Error;
}

/** A message taken from a queue and not yet acknowledged. */
export interface Delivery {
  readonly tag: string;
  readonly queue: string;
  /** The decoded transport message, or undefined when the raw bytes were not a valid envelope. */
  readonly message?: TransportMessage;
  /** Why the envelope could not be decoded. */
  readonly error?: Error;
  /** The raw bytes as received (kept for dead-lettering). */
  readonly raw?: string | Buffer;
  readonly redelivered: boolean;
}

export type DeliveryHandler = (delivery: Delivery) => void;

export interface Consumer {
  /** Change how many unacknowledged deliveries this consumer may hold. */
  setPrefetch(n: number): void;
  /**
   * Pull brokers: while some deliveries are held, fetch again only once at least `n` slots are
   * free, so one round trip carries a batch instead of one message per freed slot.
   */
  setRefillBatch?(n: number): void;
  /**
   * Brokers that park ETA messages (`defer`) can do it as they fetch: while `ms` is set (the worker
   * holds as many ETA tasks as it may), a message whose ETA is more than `ms` away is parked
   * broker-side and not delivered (its bytes never reach the worker); `parked` counts them.
   * undefined: deliver every message.
   */
  setParkBeyond?(ms: number | undefined, parked: (n: number) => void): void;
  /** Stop receiving new deliveries; held ones stay held until acked/rejected. */
  cancel(): Promise<void>;
}

/**
 * A caller's SQL client inside its own transaction: node-postgres `Client`/`PoolClient` (any client
 * with the same `query(text, values)`), or the `tx` of porsager's postgres.js `sql.begin(tx => ...)`.
 */
export type TransactionClient = { query(text: string, values?: unknown[]): Promise<unknown> } | { unsafe(text: string, values?: unknown[]): PromiseLike<unknown> };

export interface Broker {
  readonly kind: 'memory' | 'embedded' | 'redis' | 'amqp' | 'postgres';
  /** The URL with any password redacted. */
  readonly displayUrl: string;
  readonly capabilities: BrokerCapabilities;

  connect(): Promise<void>;
  close(): Promise<void>;

  /** Resolves once the broker has the message (durably, where the broker is durable). */
  publish(queue: string, message: TransportMessage): Promise<void>;
  publishBatch(items: ReadonlyArray<{ queue: string; message: TransportMessage }>): Promise<void>;
  /** PostgreSQL: insert in the caller's own open transaction (a rollback: never sent; a commit: it runs). */
  publishInTransaction?(tx: TransactionClient, items: ReadonlyArray<{ queue: string; message: TransportMessage }>): Promise<void>;

  /** Start delivering messages from `queues` (in the given order of preference). */
  consume(queues: readonly string[], prefetch: number, onDelivery: DeliveryHandler): Promise<Consumer>;
  /** Acknowledge: the message is gone for good. May be batched; `flush()` waits for it. */
  ack(delivery: Delivery): void;
  /** Reject: requeue it, or move it to the dead-letter queue/list with the reason. */
  reject(delivery: Delivery, requeue: boolean, reason?: string): Promise<void>;
  /**
   * Park a held ETA message on the broker until `etaMs` (epoch ms), instead of in the worker's
   * memory: settled here at once, back at the front of its queue shortly before it is due (any
   * consumer takes it then). Redis: a sorted set every Sprig worker on the db sweeps (docs/eta.md).
   */
  defer?(delivery: Delivery, etaMs: number): Promise<void>;
  /** Keep a held message from being redelivered (long-running or ETA tasks). */
  touch?(deliveries: readonly Delivery[]): Promise<void>;
  /** Wait until batched acks are written. */
  flush(): Promise<void>;
  /**
   * True when the broker will deliver this message again anyway (the connection or channel it came
   * on is gone): the worker must not start it, or it would run twice.
   */
  isStale?(delivery: Delivery): boolean;

  purge(queue: string): Promise<number>;
  queueLength(queue: string): Promise<number>;
  /** Messages in the dead-letter list/queue for `queue`. */
  deadLetterLength(queue: string): Promise<number>;
  /**
   * The task queues the broker can name by itself (Redis: kombu's bindings; PostgreSQL, embedded,
   * memory: the queues holding messages; AMQP 0-9-1 cannot list queues: []). Dead-letter, pidbox,
   * reply and event queues are left out. queue-admin.ts adds the queues workers consume.
   */
  listQueues?(): Promise<string[]>;
  /** What the broker itself counts for `queue` (queue-admin.ts fills the rest from the workers). */
  queueStats?(queue: string): Promise<BrokerQueueStats>;
  /**
   * Take the oldest dead letter of `queue` and let `decide` say what becomes of it: 'requeue' puts
   * the message it holds back on its queue as the very bytes that were rejected (no re-encode);
   * 'keep' moves it to the newest end of the dead-letter queue (so one pass over N entries visits
   * each once). Copy first, then delete: a crash in between duplicates, never loses. Resolves
   * with what was taken, or undefined when the dead-letter queue is empty. See requeueDeadLetters.
   */
  moveDeadLetter?(queue: string, decide: (taken: TakenDeadLetter) => 'requeue' | 'keep'): Promise<TakenDeadLetter | undefined>;

  /** Fire-and-forget; batched by the adapter. */
  publishEvent(event: SprigEvent): void;
  subscribeEvents(handler: (event: SprigEvent) => void): Promise<() => Promise<void>>;

  /** The result backend that lives on this broker. */
  createBackend(): ResultBackend;
  /** AMQP: this client's reply queue, put in `reply_to` so the rpc:// backend can answer. */
  replyQueue?(): Promise<string>;

  /** Remote control (pidbox). */
  broadcast?(request: ControlRequest): Promise<void>;
  subscribeControl?(handler: (request: ControlRequest) => void): Promise<() => Promise<void>>;
  reply?(replyTo: { exchange: string; routing_key: string }, ticket: string, body: unknown): Promise<void>;
  collectReplies?(replyTo: string, timeoutMs: number, expected?: number): Promise<unknown[]>;

  /** The beat scheduler's lease and its last-run state, with an atomic record-and-publish (lease.ts). */
  leases?(): LeaseStore;

  /** Connection lifecycle notifications (reconnects are counted for metrics). */
  on?(event: 'reconnect' | 'disconnect', listener: () => void): void;
}

export { deadLetterQueueName } from './dead-letter.js';

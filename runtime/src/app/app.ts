import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { AsyncResult } from './result.js';
import { contextStorage } from './context.js';
import { registerTask, getTask } from './registry.js';
import { makeRetry, type AnyFn, type BoundArgs, type BoundTaskFn, type BoundTaskOptions, type Task, type TaskOptions, type TaskContext, type UnboundTaskOptions } from './task.js';
import { resolveConfig, type ResolveConfigOptions, type SprigConfig } from './config.js';
import { buildTaskMessage, type TransportMessage } from '../protocol/message.js';
import { createBroker } from '../brokers/registry.js';
import type { Broker, TransactionClient } from '../brokers/types.js';
import type { ResultBackend } from '../backends/types.js';
import { EventDispatcher } from '../events/dispatcher.js';
import { ConfigError } from '../errors.js';
import { Control } from '../control/client.js';
import { configureSigning } from '../serialization/signed.js';
import { AppEvents } from '../events/receiver.js';
import { startPublishSpan } from '../tracing/otel.js';
import type { PublishSpan } from '../tracing/types.js';

/** Per-call options (Celery's apply_async options). */
export interface ApplyOptions {
  taskId?: string;
  /** Seconds from now. */
  countdown?: number;
  eta?: Date | string;
  /** Seconds from now, or an absolute time: after it the task is REVOKED, not run. */
  expires?: number | Date | string;
  priority?: number;
  queue?: string;
  timeLimit?: number;
  softTimeLimit?: number;
  ignoreResult?: boolean;
  serializer?: string;
  compression?: string;
  headers?: Record<string, unknown>;
  /** Used by retries and by the monitor's "Retry" (linked to the old id). */
  retries?: number;
  parentId?: string;
  rootId?: string;
  /**
   * postgres:// only: the caller's own client, inside its open transaction. The message is inserted
   * in that transaction (await the result's `sent` before COMMIT): a rollback means it never existed.
   */
  tx?: TransactionClient;
}

/** `rpc://` means "the broker's own reply mechanism": results come back on the client's reply queue. */
export function isRpcBackend(url: string | undefined): boolean {
  return !!url && /^rpc:\/\//.test(url);
}

export async function createBackendFromUrl(
  url: string,
  brokerOf?: () => Promise<Broker>,
  transportOptions?: Readonly<Record<string, unknown>>,
): Promise<ResultBackend> {
  if (isRpcBackend(url)) {
    if (!brokerOf) throw new ConfigError("rpc:// results need the broker connection");
    return (await brokerOf()).createBackend();
  }
  if (/^(rediss?|sentinel|rediss?-cluster):\/\//i.test(url)) {
    const { RedisBackend } = await import('../brokers/redis/redis-backend.js');
    return RedisBackend.fromUrl(url, { transportOptions });
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { PostgresBackend } = await import('../brokers/postgres/postgres-backend.js');
    return PostgresBackend.fromUrl(url);
  }
  const broker = await createBroker(url);
  await broker.connect();
  return broker.createBackend();
}

/**
 * An App holds settings and the connections clients use to send tasks and read results.
 * `task()` definitions belong to the default app unless made with `app.task()`.
 */
export class App {
  private brokerP?: Promise<Broker>;
  private backendP?: Promise<ResultBackend>;
  private configP?: Promise<SprigConfig>;
  private sentDispatcher?: EventDispatcher;

  /** Remote control of the workers on this broker (ping, inspect, revoke, rate_limit, ...). */
  readonly control = new Control(() => this.broker());

  /** Custom event consumers: `app.events.receiver({ 'task-failed': (e) => ... })` and `app.events.state()`. */
  readonly events = new AppEvents(() => this.broker());

  /** `resolveOptions`: how the settings are resolved (an editor leaves an untrusted workspace's config file unread). */
  constructor(
    private readonly overrides: SprigConfig = {},
    private readonly resolveOptions: ResolveConfigOptions = {},
  ) {}

  /** Replace settings (before first use). */
  configure(config: SprigConfig): void {
    Object.assign(this.overrides, config);
    this.configP = undefined;
  }

  config(): Promise<SprigConfig> {
    return (this.configP ??= resolveConfig(this.overrides, undefined, this.resolveOptions).then((c) => {
      // Clients sign what they send with the same settings the workers verify with.
      if (c.signing) configureSigning(c.signing);
      return c;
    }));
  }

  /** Use an already-connected broker (the worker shares its own with the tasks it runs). */
  useBroker(broker: Broker, backend?: ResultBackend): void {
    this.brokerP = Promise.resolve(broker);
    if (backend) this.backendP = Promise.resolve(backend);
  }

  broker(): Promise<Broker> {
    return (this.brokerP ??= (async () => {
      const c = await this.config();
      const b = await createBroker(c.brokerUrl!, { projectDir: c.projectDir, visibilityTimeout: c.visibilityTimeout, transportOptions: c.brokerTransportOptions, defaultQueueType: c.taskDefaultQueueType });
      await b.connect();
      return b;
    })().catch((err) => {
      this.brokerP = undefined;
      throw err;
    }));
  }

  backend(): Promise<ResultBackend> {
    return (this.backendP ??= (async () => {
      const c = await this.config();
      if (c.resultBackend) return createBackendFromUrl(c.resultBackend, () => this.broker(), c.resultBackendTransportOptions);
      return (await this.broker()).createBackend();
    })().catch((err) => {
      this.backendP = undefined;
      throw err;
    }));
  }

  /** Define a task on this app (typed as the module-level `task()`). */
  task<F extends BoundTaskFn>(name: string, fn: F, options: BoundTaskOptions): Task<BoundArgs<F>, ReturnType<F>>;
  task<F extends AnyFn>(name: string, fn: F, options?: UnboundTaskOptions): Task<Parameters<F>, ReturnType<F>>;
  task(name: string, fn: AnyFn, options: TaskOptions = {}): Task {
    return defineTask(name, fn, options, () => this);
  }

  /** Build the protocol-v2 message for a call (exposed for bulk enqueue and tests). */
  async buildMessage(name: string, args: unknown[], kwargs: Record<string, unknown>, opts: ApplyOptions = {}): Promise<{ queue: string; message: TransportMessage }> {
    const c = await this.config();
    const t = getTask(name);
    const parent = contextStorage.getStore();
    // With the broker's own results (rpc:// on AMQP), the worker replies to our reply queue.
    const replyTo = !c.resultBackend || isRpcBackend(c.resultBackend) ? await (await this.broker()).replyQueue?.() : undefined;
    const queue = opts.queue ?? t?.options.queue ?? c.defaultQueue ?? 'celery';
    const message = buildTaskMessage({
      id: opts.taskId,
      name,
      args,
      kwargs,
      queue,
      countdown: opts.countdown,
      eta: opts.eta,
      expires: opts.expires ?? t?.options.expires,
      priority: opts.priority ?? t?.options.priority,
      retries: opts.retries,
      timeLimit: opts.timeLimit ?? null,
      softTimeLimit: opts.softTimeLimit ?? null,
      ignoreResult: opts.ignoreResult ?? t?.options.ignoreResult,
      serializer: opts.serializer ?? t?.options.serializer ?? c.taskSerializer,
      compression: opts.compression ?? t?.options.compression ?? c.compression,
      compressionThreshold: c.compressionThreshold,
      replyTo,
      parentId: opts.parentId ?? parent?.id ?? null,
      rootId: opts.rootId ?? parent?.rootId ?? undefined,
      headers: opts.headers,
    });
    return { queue, message };
  }

  /** Enqueue a task by name (it may be defined elsewhere, in Python too). */
  sendTask<R = unknown>(name: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, opts: ApplyOptions = {}): AsyncResult<R> {
    const id = opts.taskId ?? randomUUID();
    const sent = (async () => {
      const c = await this.config();
      const span = startPublishSpan({ taskId: id, taskName: name, retries: opts.retries }, c.projectDir);
      try {
        const { queue, message } = await this.buildMessage(name, args, kwargs, { ...opts, taskId: id, headers: withTrace(opts.headers, span) });
        const broker = await this.broker();
        span?.destination(queue, broker.kind);
        if (opts.tx) {
          if (!broker.publishInTransaction) throw new ConfigError(`enqueueing in a transaction needs a postgres:// broker, not ${broker.kind}`);
          await broker.publishInTransaction(opts.tx, [{ queue, message }]);
        } else await broker.publish(queue, message);
        if (c.sendSentEvent) this.sentEvents(broker).taskSent(message, queue);
      } catch (err) {
        span?.end(err);
        throw err;
      }
      span?.end();
    })();
    return new AsyncResult<R>(id, () => this.backend(), sent, name);
  }

  /** Enqueue many calls in one round trip; resolves when the broker has them all. */
  async sendMany(calls: ReadonlyArray<{ name: string; args?: unknown[]; kwargs?: Record<string, unknown>; options?: ApplyOptions }>): Promise<AsyncResult[]> {
    const { projectDir } = await this.config();
    const spans: Array<PublishSpan | undefined> = [];
    const items = await Promise.all(
      calls.map((c) => {
        const taskId = c.options?.taskId ?? randomUUID();
        const span = startPublishSpan({ taskId, taskName: c.name, retries: c.options?.retries }, projectDir);
        spans.push(span);
        return this.buildMessage(c.name, c.args ?? [], c.kwargs ?? {}, { ...c.options, taskId, headers: withTrace(c.options?.headers, span) });
      }),
    ).catch((err: unknown) => {
      for (const s of spans) s?.end(err);
      throw err;
    });
    const broker = await this.broker();
    items.forEach((it, i) => spans[i]?.destination(it.queue, broker.kind));
    try {
      await broker.publishBatch(items);
    } catch (err) {
      for (const s of spans) s?.end(err);
      throw err;
    }
    for (const s of spans) s?.end();
    return items.map((it, i) => new AsyncResult(it.message.headers.id as string, () => this.backend(), Promise.resolve(), calls[i]!.name));
  }

  /** A handle on a result by id. */
  asyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, () => this.backend());
  }

  private sentEvents(broker: Broker): EventDispatcher {
    return (this.sentDispatcher ??= new EventDispatcher(broker, `gen${process.pid}@${hostname()}`));
  }

  async close(): Promise<void> {
    const b = this.brokerP;
    const r = this.backendP;
    this.brokerP = undefined;
    this.backendP = undefined;
    if (r) await (await r.catch(() => undefined))?.close();
    if (b) {
      const broker = await b.catch(() => undefined);
      await broker?.flush();
      await broker?.close();
    }
  }
}

/** The caller's headers plus the publish span's trace context (the caller's own traceparent wins). */
function withTrace(headers: Record<string, unknown> | undefined, span: PublishSpan | undefined): Record<string, unknown> | undefined {
  return span ? { ...span.headers, ...headers } : headers;
}

const APP_KEY = Symbol.for('sprig.defaultApp');

/** The process-wide default app (shared by every copy of the runtime loaded in this process). */
export function defaultApp(): App {
  const g = globalThis as unknown as Record<symbol, App | undefined>;
  return (g[APP_KEY] ??= new App());
}

/** Configure the default app. */
export function configure(config: SprigConfig): void {
  defaultApp().configure(config);
}

function defineTask(name: string, fn: AnyFn, options: TaskOptions, app: () => App): Task {
  if (typeof name !== 'string' || !name) throw new TypeError('task(name, fn): name must be a non-empty string');
  if (typeof fn !== 'function') throw new TypeError(`task(${JSON.stringify(name)}, fn): fn must be a function`);
  // An anonymous function (`task('add', (a, b) => a + b)`) takes the task's name: stack frames
  // then say `add`, not `Object.fn`. A function with a name of its own keeps it.
  if (!fn.name) Object.defineProperty(fn, 'name', { value: name, configurable: true });
  type R = unknown;
  const t: Task = {
    name,
    options: Object.freeze({ ...options }),
    fn,
    delay: (...args) => app().sendTask<R>(name, args as unknown[], {}, {}),
    applyAsync: (args, kwargs, opts) => app().sendTask<R>(name, (args ?? []) as unknown[], kwargs ?? {}, opts ?? {}),
    call: async (...args): Promise<R> => {
      const ctx: TaskContext = {
        id: randomUUID(),
        name,
        retries: 0,
        args,
        kwargs: {},
        hostname: hostname(),
        eta: null,
        rootId: null,
        parentId: null,
        groupId: null,
        queue: '',
        expires: null,
        headers: {},
        signal: new AbortController().signal,
        retry: (o) => makeRetry({ retries: 0 }, options, o),
      };
      return await contextStorage.run(ctx, () => (options.bind ? fn(ctx, ...args) : fn(...args)));
    },
  };
  registerTask(t);
  return t;
}

/**
 * Define a task: `export const add = task('add', (a: number, b: number) => a + b, { maxRetries: 3 })`.
 * `add.delay('x', 3)` is then a compile error and `await add.delay(2, 3).get()` a `number`. With
 * `{ bind: true }` the function's first parameter is the TaskContext (typed without an annotation)
 * and the call takes the parameters after it.
 */
export function task<F extends BoundTaskFn>(name: string, fn: F, options: BoundTaskOptions): Task<BoundArgs<F>, ReturnType<F>>;
export function task<F extends AnyFn>(name: string, fn: F, options?: UnboundTaskOptions): Task<Parameters<F>, ReturnType<F>>;
export function task(name: string, fn: AnyFn, options: TaskOptions = {}): Task {
  return defineTask(name, fn, options, defaultApp);
}

/** Enqueue a task by name on the default app: `sendTask('proj.tasks.add', [2, 3])`. */
export function sendTask<R = unknown>(name: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, opts: ApplyOptions = {}): AsyncResult<R> {
  return defaultApp().sendTask<R>(name, args, kwargs, opts);
}

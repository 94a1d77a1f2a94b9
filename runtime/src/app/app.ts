import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { AsyncResult } from './result.js';
import { contextStorage } from './context.js';
import { registerTask, getTask } from './registry.js';
import { makeRetry, progressReport, stateReport, type AnyFn, type BoundArgs, type BoundTaskFn, type BoundTaskOptions, type Task, type TaskOptions, type TaskContext, type UnboundTaskOptions } from './task.js';
import { brokerOptionsOf, resolveConfig, type ResolveConfigOptions, type SprigConfig } from './config.js';
import { buildTaskMessage, type BuildTaskOptions, type TransportMessage } from '../protocol/message.js';
import { buildTaskMessages } from '../protocol/message-batch.js';
import { randomUUIDs } from '../protocol/uuids.js';
import { createBroker } from '../brokers/registry.js';
import type { Broker, TransactionClient } from '../brokers/types.js';
import type { ResultBackend } from '../backends/types.js';
import { EventDispatcher } from '../events/dispatcher.js';
import { ConfigError } from '../errors.js';
import { Control } from '../control/client.js';
import { configureSigning } from '../serialization/signed.js';
import { AppEvents } from '../events/receiver.js';
import { publishTracing, startPublishSpan } from '../tracing/otel.js';
import type { PublishSpan } from '../tracing/types.js';
import { taskSignature, toSigDicts, restoreGroupResult, type CanvasHost, type GroupResult, type Signature, type SignatureLike, type SignatureOptions } from './canvas.js';
import { ensureChordsAllowed, type CeleryOptions } from './canvas-apply.js';
import { checkAddToChord } from './task-api.js';
import type { SignatureDict } from '../protocol/signature.js';

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
  /** Callbacks: sent with this task's result as their first argument after it succeeds. */
  link?: SignatureLike | SignatureLike[];
  /** Errbacks: sent with this task's id after it fails. */
  linkError?: SignatureLike | SignatureLike[];
  /** Canvas internals (set by canvas.ts): the group it is in, its place there, the chain after it, the chord body it is part of. */
  groupId?: string;
  groupIndex?: number;
  chain?: SignatureDict[];
  chord?: SignatureDict;
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
      const b = await createBroker(c.brokerUrl!, brokerOptionsOf(c));
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
    return this.messageFor(c, await this.replyTo(c), name, args, kwargs, opts);
  }

  /** With the broker's own results (rpc:// on AMQP), the worker replies to our reply queue. */
  private async replyTo(c: SprigConfig): Promise<string | undefined> {
    return !c.resultBackend || isRpcBackend(c.resultBackend) ? await (await this.broker()).replyQueue?.() : undefined;
  }

  /** The synchronous part of buildMessage: a bulk enqueue builds every message of a batch in one go. */
  private messageFor(c: SprigConfig, replyTo: string | undefined, name: string, args: unknown[], kwargs: Record<string, unknown>, opts: ApplyOptions): { queue: string; message: TransportMessage } {
    const { queue, build } = this.buildOptions(c, replyTo, name, opts);
    return { queue, message: buildTaskMessage({ ...build, args, kwargs }) };
  }

  /** What buildTaskMessage gets from a call's options (all but its arguments), and its queue. */
  private buildOptions(c: SprigConfig, replyTo: string | undefined, name: string, opts: ApplyOptions): { queue: string; build: BuildTaskOptions } {
    const t = getTask(name);
    const parent = contextStorage.getStore();
    const queue = opts.queue ?? t?.options.queue ?? c.defaultQueue ?? 'celery';
    const build: BuildTaskOptions = {
      id: opts.taskId,
      name,
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
      groupId: opts.groupId ?? null,
      groupIndex: opts.groupIndex ?? null,
      headers: opts.headers,
      embed: {
        callbacks: toSigDicts(opts.link) ?? null,
        errbacks: toSigDicts(opts.linkError) ?? null,
        chain: opts.chain?.length ? opts.chain : null,
        chord: opts.chord ?? null,
      },
    };
    return { queue, build };
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

  /** Enqueue many calls in one round trip (or a few, see BrokerCapabilities.publishChunk); resolves when the broker has them all. */
  async sendMany(calls: ReadonlyArray<SendCall>): Promise<AsyncResult[]> {
    const c = await this.config();
    const replyTo = await this.replyTo(c);
    const broker = await this.broker();
    const chunk = Math.max(1, broker.capabilities.publishChunk ?? calls.length);
    // Untraced (no OpenTelemetry SDK): no span per call, and runs of calls of one task with the
    // same options share one message build (buildTaskMessages).
    const traced = publishTracing(c.projectDir);
    const spans: Array<PublishSpan | undefined> = [];
    const items: Array<{ queue: string; message: TransportMessage }> = [];
    const sending: Array<Promise<void>> = [];
    try {
      for (let i = 0; i < calls.length; i += chunk) {
        const part = traced ? this.tracedItems(c, replyTo, broker, calls.slice(i, i + chunk), spans) : this.untracedItems(c, replyTo, calls.slice(i, i + chunk));
        for (const it of part) items.push(it);
        sending.push(broker.publishBatch(part));
        // Let that batch go out while the next one is built.
        if (i + chunk < calls.length) await new Promise<void>((r) => setImmediate(r));
      }
      await Promise.all(sending);
    } catch (err) {
      await Promise.allSettled(sending);
      for (const s of spans) s?.end(err);
      throw err;
    }
    for (const s of spans) s?.end();
    return items.map((it, i) => new AsyncResult(it.message.headers.id as string, () => this.backend(), Promise.resolve(), calls[i]!.name));
  }

  /** One publish span per call, its trace context in the message's headers. */
  private tracedItems(c: SprigConfig, replyTo: string | undefined, broker: Broker, calls: readonly SendCall[], spans: Array<PublishSpan | undefined>): Array<{ queue: string; message: TransportMessage }> {
    return calls.map((call) => {
      const taskId = call.options?.taskId ?? randomUUID();
      const span = startPublishSpan({ taskId, taskName: call.name, retries: call.options?.retries }, c.projectDir);
      spans.push(span);
      const headers = withTrace(call.options?.headers, span);
      const it = this.messageFor(c, replyTo, call.name, call.args ?? [], call.kwargs ?? {}, { ...call.options, taskId, headers });
      span?.destination(it.queue, broker.kind);
      return it;
    });
  }

  /** Consecutive calls of one task with equal options (but their taskId) are built as one run. */
  private untracedItems(c: SprigConfig, replyTo: string | undefined, calls: readonly SendCall[]): Array<{ queue: string; message: TransportMessage }> {
    const out: Array<{ queue: string; message: TransportMessage }> = [];
    for (let i = 0; i < calls.length; ) {
      const head = calls[i]!;
      let end = i + 1;
      while (end < calls.length && calls[end]!.name === head.name && sameOptions(calls[end]!.options, head.options)) end++;
      const { queue, build } = this.buildOptions(c, replyTo, head.name, { ...head.options, taskId: undefined });
      const ids = randomUUIDs(end - i);
      const run = calls.slice(i, end).map((call, k) => ({ id: call.options?.taskId ?? ids[k]!, args: call.args ?? [], kwargs: call.kwargs ?? {} }));
      for (const message of buildTaskMessages(build, run)) out.push({ queue, message });
      i = end;
    }
    return out;
  }

  /** A handle on a result by id. */
  asyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, () => this.backend());
  }

  /** A signature of a task known by name only (a Python task, say): `app.signature('app.add', [2, 2])`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  signature<In = any, R = unknown>(name: string, args: unknown[] = [], options: SignatureOptions = {}): Signature<In, R> {
    return taskSignature<In, R>(name, args, () => this.canvasContext()).set(options);
  }

  /** A group saved with GroupResult.save() (by Sprig or Celery), or null. */
  restoreGroup(id: string): Promise<GroupResult | null> {
    return restoreGroupResult(this.canvasContext(), id);
  }

  /** How the canvas sends on this app: one message per task, options in Celery's names. */
  canvasContext(fallbackQueue?: string): CanvasHost {
    const host: CanvasHost = {
      send: async (name, args, kwargs, o) => {
        if (o.chord) await ensureChordsAllowed(host);
        const opts = fromCeleryOptions(o);
        // Unrouted (no queue on the signature or the task, no defaultQueue): a worker's canvas
        // step stays on the queue its parent came from.
        if (fallbackQueue && opts.queue === undefined && !getTask(name)?.options.queue && !(await this.config()).defaultQueue) opts.queue = fallbackQueue;
        await this.sendTask(name, args, kwargs, opts).sent;
      },
      backend: () => this.backend(),
      asyncResult: <R>(id: string, sent: Promise<void>) => new AsyncResult<R>(id, () => this.backend(), sent),
    };
    return host;
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

/** A signature's options (Celery's names) as Sprig's ApplyOptions. */
function fromCeleryOptions(o: CeleryOptions): ApplyOptions {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const out: ApplyOptions = {
    taskId: str(o.task_id),
    countdown: num(o.countdown),
    eta: str(o.eta),
    expires: typeof o.expires === 'number' || typeof o.expires === 'string' ? o.expires : undefined,
    priority: num(o.priority),
    queue: str(o.queue) ?? str(o.routing_key),
    timeLimit: num(o.time_limit),
    softTimeLimit: num(o.soft_time_limit),
    ignoreResult: typeof o.ignore_result === 'boolean' ? o.ignore_result : undefined,
    serializer: str(o.serializer),
    compression: str(o.compression),
    headers: o.headers && typeof o.headers === 'object' ? (o.headers as Record<string, unknown>) : undefined,
    retries: num(o.retries),
    parentId: str(o.parent_id),
    rootId: str(o.root_id),
    groupId: str(o.group_id),
    groupIndex: num(o.group_index),
    link: (o.link as SignatureDict[] | undefined) ?? undefined,
    linkError: (o.link_error as SignatureDict[] | undefined) ?? undefined,
    chain: (o.chain as SignatureDict[] | undefined) ?? undefined,
    chord: (o.chord as SignatureDict | undefined) ?? undefined,
  };
  for (const k of Object.keys(out) as Array<keyof ApplyOptions>) if (out[k] === undefined) delete out[k];
  return out;
}

/** One call of sendMany. */
export interface SendCall {
  name: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: ApplyOptions;
}

/** Options equal key by key (values by identity), taskId aside: the calls build the same message but for their ids and arguments. */
function sameOptions(a: ApplyOptions | undefined, b: ApplyOptions | undefined): boolean {
  if (a === b) return true;
  const ka = a ? Object.keys(a).filter((k) => k !== 'taskId') : [];
  const kb = b ? Object.keys(b).filter((k) => k !== 'taskId') : [];
  if (ka.length !== kb.length) return false;
  for (const k of ka) if ((a as Record<string, unknown>)[k] !== (b as Record<string, unknown> | undefined)?.[k]) return false;
  return true;
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

function defineTask(name: string, fn: AnyFn, options: TaskOptions, app: () => App, register = true): Task {
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
    applyAsync: (args, kwargs, opts) => {
      if (opts?.link || opts?.linkError) {
        // Links are signatures: checked (and a chord among them refused on rpc://) before sending.
        return app().sendTask<R>(name, (args ?? []) as unknown[], kwargs ?? {}, { ...opts, link: toSigDicts(opts.link), linkError: toSigDicts(opts.linkError) });
      }
      return app().sendTask<R>(name, (args ?? []) as unknown[], kwargs ?? {}, opts ?? {});
    },
    s: ((...args: unknown[]) => taskSignature(name, args, () => app().canvasContext())) as Task['s'],
    si: ((...args: unknown[]) => taskSignature(name, args, () => app().canvasContext(), true)) as Task['si'],
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
        deliveryInfo: { exchange: '', routingKey: '', priority: null, redelivered: false },
        replyTo: null,
        correlationId: null,
        groupIndex: null,
        chord: null,
        callbacks: null,
        errbacks: null,
        signal: new AbortController().signal,
        retry: (o) => makeRetry({ retries: 0 }, options, o),
        replace: () => {
          throw new ConfigError(`${name}: ctx.replace() needs a worker (task.call() runs the task here, with nothing to replace)`);
        },
        addToChord: (sig) => ({ id: checkAddToChord(sig, ctx).id }),
        // Called directly there is no worker to report to: the arguments are still checked.
        progress: (done, total, meta) => void progressReport(done, total, meta),
        updateState: (state, meta) => void stateReport(state, meta),
      };
      return await contextStorage.run(ctx, () => (options.bind ? fn(ctx, ...args) : fn(...args)));
    },
  };
  if (register) registerTask(t);
  return t;
}

/** A task of the runtime's own (Celery's `celery.accumulate`, app/builtins.ts): defined on the default app, not in the user's registry. */
export function builtinTask(name: string, fn: AnyFn, options: TaskOptions = {}): Task {
  return defineTask(name, fn, options, defaultApp, false);
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

/** A signature by task name on the default app (Celery's `signature('tasks.add', args=(2, 2))`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function signature<In = any, R = unknown>(name: string, args: unknown[] = [], options: SignatureOptions = {}): Signature<In, R> {
  return defaultApp().signature<In, R>(name, args, options);
}

/** Enqueue a task by name on the default app: `sendTask('proj.tasks.add', [2, 3])`. */
export function sendTask<R = unknown>(name: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, opts: ApplyOptions = {}): AsyncResult<R> {
  return defaultApp().sendTask<R>(name, args, kwargs, opts);
}

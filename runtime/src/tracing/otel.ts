/**
 * OpenTelemetry, when the application has `@opentelemetry/api` (an optional peer dependency):
 * - a client wraps each publish in a "publish" span (PRODUCER) and puts W3C trace context in the
 *   message's headers, top level: `traceparent`, `tracestate`, `baggage`. Those are the names
 *   Python's opentelemetry-instrumentation-celery injects into the protocol-v2 headers
 *   (before_task_publish) and reads back from the task request (task_prerun), so a trace crosses
 *   Python → Sprig → Python;
 * - the worker runs each task in a "process" span (CONSUMER), child of the publisher's. The span
 *   lives in the worker process whatever the pool; a pool child gets its context with the job
 *   (`Job.trace`) and runs the task under it, so the task's own spans and the tasks it enqueues are
 *   its children. A retry is published from that span, so every attempt stays in the trace.
 * Nothing is loaded when the package is absent, or when OTEL_SDK_DISABLED=true.
 *
 * The API's global propagator is used when one is registered (NodeSDK and NodeTracerProvider
 * register W3C trace context + baggage); otherwise `traceparent`/`tracestate` are written and read
 * here, so context crosses a pool child or a process that registered no SDK.
 */
import type * as Api from '@opentelemetry/api';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { VERSION } from '../version.js';
import { parseTraceparent, TRACE_HEADERS, type ProcessSpan, type PublishSpan, type TraceCarrier } from './types.js';

type OtelApi = typeof Api;

let api: OtelApi | null | undefined;
const API_PACKAGE = ['@opentelemetry', 'api'].join('/');

/**
 * The application's `@opentelemetry/api`, resolved first from the project (so it is the copy its SDK
 * registered with), then next to Sprig; null when it is not installed. Looked up once per process.
 */
export function otelApi(projectDir?: string): OtelApi | null {
  if (api !== undefined) return api;
  api = null;
  if (/^true$/i.test(process.env.OTEL_SDK_DISABLED ?? '')) return api;
  for (const dir of [projectDir, process.cwd(), __dirname]) {
    if (!dir) continue;
    try {
      // A computed name: bundlers must not pull the package in (it is the application's to have).
      api = createRequire(path.join(dir, 'noop.js'))(API_PACKAGE) as OtelApi;
      break;
    } catch {
      /* not there */
    }
  }
  return api;
}

/** Shared by every copy of the runtime in a process (a pool child loads two), like the task context. */
const KEY = Symbol.for('sprig.traceCarrierStorage');
const g = globalThis as unknown as Record<symbol, AsyncLocalStorage<TraceCarrier> | undefined>;
const carrierStorage: AsyncLocalStorage<TraceCarrier> = (g[KEY] ??= new AsyncLocalStorage<TraceCarrier>());

let noopProvider: Api.TracerProvider | undefined;

/**
 * The API, when there is something to trace for: a tracer provider is registered (an SDK), or the
 * code runs inside a traced task (a pool child with no SDK of its own still passes the context on).
 * `@opentelemetry/api` is often installed without an SDK (prom-client depends on it): then this is
 * null and a task costs nothing more than this check.
 */
export function tracing(projectDir?: string): OtelApi | null {
  // Not loaded yet and nothing registered with any copy of the API: stay unloaded (requiring it
  // is ~100-300 ms of a `sprig call`). An SDK registers its provider under this global first.
  if (api === undefined && !carrierStorage.getStore() && !otelGlobalRegistered()) return null;
  const a = otelApi(projectDir);
  if (!a) return null;
  if (carrierStorage.getStore()) return a;
  const p = a.trace.getTracerProvider() as Partial<Api.ProxyTracerProvider>;
  if (typeof p.getDelegate !== 'function') return a;
  noopProvider ??= new a.ProxyTracerProvider().getDelegate();
  return p.getDelegate() === noopProvider ? null : a;
}

/** The globals a copy of `@opentelemetry/api` registers: `globalThis[Symbol.for('opentelemetry.js.api.<major>')]`. */
const OTEL_GLOBALS = Array.from({ length: 10 }, (_, major) => Symbol.for(`opentelemetry.js.api.${major}`));
/** Looked at again this often while none is there: keyed reads of globalThis for every task were 2-5% of a no-op task's cost. */
const RECHECK_MS = 1000;
let noGlobalUntil = 0;

/**
 * A copy of `@opentelemetry/api` (majors 0-9) has registered a global. An SDK registered while
 * the worker runs (not, as usual, before its tasks file is loaded) is seen within RECHECK_MS.
 */
function otelGlobalRegistered(): boolean {
  const now = Date.now();
  if (now < noGlobalUntil) return false;
  const g = globalThis as unknown as Record<symbol, object | undefined>;
  for (const sym of OTEL_GLOBALS) if (g[sym]) return true;
  noGlobalUntil = now + RECHECK_MS;
  return false;
}

function tracer(a: OtelApi): Api.Tracer {
  return a.trace.getTracer('sprig-queue', VERSION);
}

const getter: Api.TextMapGetter<Record<string, unknown>> = {
  get: (c, k) => headerString(c[k]),
  keys: (c) => Object.keys(c),
};

function headerString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  // AMQP header values may arrive as bytes.
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return undefined;
}

/** Context from message headers: the global propagator's, else traceparent/tracestate read here. */
export function extractContext(a: OtelApi, headers: Record<string, unknown>): Api.Context {
  const ctx = a.propagation.extract(a.ROOT_CONTEXT, headers, getter);
  if (a.trace.getSpanContext(ctx)) return ctx;
  const p = parseTraceparent(headerString(headers.traceparent));
  if (!p) return ctx;
  const ts = headerString(headers.tracestate);
  return a.trace.setSpanContext(ctx, { ...p, isRemote: true, ...(ts ? { traceState: a.createTraceState(ts) } : {}) });
}

/** Headers carrying `ctx`: the global propagator's, plus traceparent/tracestate if it wrote none. */
export function injectContext(a: OtelApi, ctx: Api.Context): TraceCarrier {
  const carrier: TraceCarrier = {};
  a.propagation.inject(ctx, carrier);
  if (carrier.traceparent === undefined) {
    const sc = a.trace.getSpanContext(ctx);
    if (sc && a.isSpanContextValid(sc)) {
      carrier.traceparent = `00-${sc.traceId}-${sc.spanId}-0${(sc.traceFlags & 1).toString(16)}`;
      const ts = sc.traceState?.serialize();
      if (ts) carrier.tracestate = ts;
    }
  }
  return carrier;
}

/**
 * Run a task under its process span's context (`Job.trace`), in whichever process the pool runs it:
 * as the API's active context, and in Sprig's own storage too, so a task enqueued from it is a child
 * even where no context manager is registered (a bare BasicTracerProvider, a pool child).
 */
export function runInTrace<T>(carrier: TraceCarrier, fn: () => T): T {
  const a = otelApi();
  if (!a) return carrierStorage.run(carrier, fn);
  return a.context.with(extractContext(a, carrier), () => carrierStorage.run(carrier, fn));
}

/** The parent of a publish: the active span, else the task running now. */
function publishParent(a: OtelApi): Api.Context {
  const active = a.context.active();
  if (a.trace.getSpanContext(active)) return active;
  const carrier = carrierStorage.getStore();
  return carrier ? extractContext(a, carrier) : active;
}

/** `messaging.system`: the broker, in the semantic conventions' words where they have one. */
export function messagingSystem(brokerKind: string): string {
  return brokerKind === 'amqp' ? 'rabbitmq' : brokerKind === 'redis' ? 'redis' : 'sprig';
}

export interface PublishInfo {
  taskId: string;
  taskName: string;
  retries?: number;
}

/**
 * Start a "publish" span (PRODUCER) for one task message, child of the active span or of the task
 * running now (`parent` overrides: a retry is published from the worker, on behalf of the task).
 * Undefined when OpenTelemetry is not installed.
 */
/** Would startPublishSpan make a span now (an SDK is registered)? A bulk enqueue asks once, not per call. */
export function publishTracing(projectDir?: string): boolean {
  return tracing(projectDir) !== null;
}

export function startPublishSpan(info: PublishInfo, projectDir?: string, parent?: Api.Context): PublishSpan | undefined {
  const a = tracing(projectDir);
  return a ? publishSpan(a, info, parent ?? publishParent(a)) : undefined;
}

function publishSpan(a: OtelApi, info: PublishInfo, ctx: Api.Context): PublishSpan {
  const span = tracer(a).startSpan(
    `publish ${info.taskName}`,
    {
      kind: a.SpanKind.PRODUCER,
      attributes: {
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'publish',
        'messaging.message.id': info.taskId,
        'celery.action': 'apply_async',
        'celery.task_name': info.taskName,
        ...(info.retries ? { 'celery.retries': info.retries } : {}),
      },
    },
    ctx,
  );
  const headers = injectContext(a, a.trace.setSpan(ctx, span));
  return {
    headers,
    destination(queue, brokerKind) {
      span.setAttributes({ 'messaging.destination.name': queue, 'messaging.system': messagingSystem(brokerKind) });
    },
    end(err) {
      if (err !== undefined) failSpan(a, span, errorLike(err), String((err as Error)?.message ?? err));
      span.end();
    },
  };
}

export interface ProcessInfo {
  taskId: string;
  taskName: string;
  retries: number;
  queue: string;
  brokerKind: string;
  hostname: string;
  headers: Record<string, unknown>;
  projectDir?: string;
}

/** Start the "process" span (CONSUMER) of a task, child of the context in its message's headers. */
export function startProcessSpan(info: ProcessInfo): ProcessSpan | undefined {
  const a = tracing(info.projectDir);
  if (!a) return undefined;
  const parent = extractContext(a, info.headers);
  const span = tracer(a).startSpan(
    `process ${info.taskName}`,
    {
      kind: a.SpanKind.CONSUMER,
      attributes: {
        'messaging.system': messagingSystem(info.brokerKind),
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': info.queue,
        'messaging.message.id': info.taskId,
        'celery.action': 'run',
        'celery.task_name': info.taskName,
        'celery.hostname': info.hostname,
        ...(info.retries ? { 'celery.retries': info.retries } : {}),
      },
    },
    parent,
  );
  const ctx = a.trace.setSpan(parent, span);
  let ended = false;
  return {
    carrier: injectContext(a, ctx),
    retryPublish(retries) {
      const pub = publishSpan(a, { taskId: info.taskId, taskName: info.taskName, retries }, ctx);
      pub.destination(info.queue, info.brokerKind);
      return pub;
    },
    outcome(o) {
      span.setAttribute('celery.state', o.state);
      switch (o.state) {
        case 'FAILURE':
          failSpan(a, span, { name: o.exc.exc_type, message: String(o.exc.exc_message?.[0] ?? ''), stack: o.traceback }, o.repr);
          break;
        case 'RETRY':
          // Control flow, not a failure: the reason, and the exception that caused it as an event.
          span.setAttribute('celery.retry.reason', o.repr);
          if (o.exc) span.recordException({ name: o.exc.exc_type, message: String(o.exc.exc_message?.[0] ?? ''), stack: o.traceback || undefined });
          break;
        case 'REJECTED':
          if (!o.requeue) span.setStatus({ code: a.SpanStatusCode.ERROR, message: `rejected: ${o.reason}` });
          break;
        case 'LOST':
          failSpan(a, span, { name: 'WorkerLostError', message: o.reason }, o.reason);
          break;
        case 'REVOKED':
          span.setAttribute('celery.revoked.reason', o.expired ? 'expired' : 'revoked');
          break;
      }
    },
    end() {
      if (ended) return;
      ended = true;
      span.end();
    },
  };
}

function errorLike(err: unknown): Api.Exception {
  if (err instanceof Error) return err;
  return { name: 'Error', message: String(err) };
}

function failSpan(a: OtelApi, span: Api.Span, exc: Api.Exception, message: string): void {
  span.recordException(exc);
  span.setStatus({ code: a.SpanStatusCode.ERROR, message });
}

/** Without OpenTelemetry here, a retry still carries the trace context its message came with. */
export function passTraceHeaders(headers: Record<string, unknown>): TraceCarrier | undefined {
  let out: TraceCarrier | undefined;
  for (const k of TRACE_HEADERS) {
    const v = headerString(headers[k]);
    if (v !== undefined) (out ??= {})[k] = v;
  }
  return out;
}

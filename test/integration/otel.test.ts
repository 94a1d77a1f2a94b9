/**
 * OpenTelemetry with the SDK's in-memory exporter, on Redis, for the async pool (the task runs in
 * this process) and the process pool (it runs in a child that registered no SDK): enqueue → worker →
 * a retried task → a subtask that fails, all in one trace with the parent/child links right and the
 * failure recorded. Without a tracer provider nothing is traced and no header is added.
 * (Not the thread pool here: under tsx, a worker thread cannot load the runtime's sources lazily;
 * it shares the process pool's code path, `Job.trace` + runInTrace in the child.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { context, propagation, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { App, Worker, type PoolKind } from '../../runtime/src/index.js';
import { ROOT, waitFor } from '../helpers.js';
import { RedisFixture, REDIS_URL } from './redis-helpers.js';

const OTEL_TASKS = path.join(ROOT, 'test', 'fixtures', 'otel-tasks.ts');
const fx = new RedisFixture();
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const apps: App[] = [];

before(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});

after(async () => {
  for (const a of apps) await a.close();
  await fx.cleanup();
});

async function withWorker<T>(pool: PoolKind, queue: string, fn: (app: App) => Promise<T>): Promise<T> {
  const w = new Worker({ app: OTEL_TASKS, logWrite: () => undefined, config: { brokerUrl: REDIS_URL, worker: { pool, concurrency: 1, queues: [queue], prefetchMultiplier: 1 } } });
  await w.start();
  const app = new App({ brokerUrl: REDIS_URL, defaultQueue: queue });
  apps.push(app);
  try {
    return await fn(app);
  } finally {
    await w.stop();
  }
}

const id = (s: ReadableSpan) => s.spanContext().spanId;
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

for (const pool of ['async', 'process'] as const) {
  test(`${pool} pool: publish → process → retry → subtask, one trace, links and failure recorded`, async () => {
    trace.setGlobalTracerProvider(provider);
    exporter.reset();
    const q = fx.queue();
    const tracer = trace.getTracer('test');
    const { rootId, childId, parentId } = await withWorker(pool, q, async (app) => {
      const { rootId, r } = await tracer.startActiveSpan('request', async (root) => {
        const r = app.sendTask<string>('otel.parent', [7, q]);
        await r.sent;
        root.end();
        return { rootId: root.spanContext().spanId, r };
      });
      const childId = await r.get({ timeout: 20 });
      const spans = () => exporter.getFinishedSpans();
      await waitFor(() => spans().some((s) => s.name === 'process otel.child'), 20_000, 'the subtask span');
      return { rootId, childId, parentId: r.id };
    });
    const spans = exporter.getFinishedSpans();
    const byId = new Map(spans.map((s) => [id(s), s]));
    const traceIds = new Set(spans.map((s) => s.spanContext().traceId));
    assert.equal(traceIds.size, 1, `one trace: ${spans.map((s) => `${s.name} ${s.spanContext().traceId}`).join('; ')}`);

    const publish = spans.filter((s) => s.name === 'publish otel.parent').sort((a, b) => Number(a.attributes['celery.retries'] ?? 0) - Number(b.attributes['celery.retries'] ?? 0));
    const runs = spans.filter((s) => s.name === 'process otel.parent').sort((a, b) => Number(a.attributes['celery.retries'] ?? 0) - Number(b.attributes['celery.retries'] ?? 0));
    const [childRun] = spans.filter((s) => s.name === 'process otel.child');
    assert.equal(publish.length, 2, 'the first publish and the retry');
    assert.equal(runs.length, 2, 'two attempts');
    assert.ok(childRun);

    // The client's publish is a child of the caller's span; each attempt of the publish before it.
    assert.equal(publish[0]!.kind, SpanKind.PRODUCER);
    assert.equal(parentOf(publish[0]!), rootId);
    assert.equal(parentOf(runs[0]!), id(publish[0]!));
    assert.equal(parentOf(publish[1]!), id(runs[0]!), 'the retry is published from the first attempt');
    assert.equal(parentOf(runs[1]!), id(publish[1]!));
    // The subtask: published from the second attempt. In a pool child with no SDK the publish span
    // is not recorded, so the subtask's process span hangs directly off the attempt.
    const childPublish = spans.find((s) => s.name === 'publish otel.child');
    if (pool === 'async') {
      assert.ok(childPublish, 'in-process publish span');
      assert.equal(parentOf(childPublish), id(runs[1]!));
      assert.equal(parentOf(childRun), id(childPublish));
    } else {
      assert.equal(childPublish, undefined);
      assert.equal(parentOf(childRun), id(runs[1]!));
    }

    // Messaging attributes.
    for (const s of [...runs, childRun]) {
      assert.equal(s.kind, SpanKind.CONSUMER);
      assert.equal(s.attributes['messaging.system'], 'redis');
      assert.equal(s.attributes['messaging.destination.name'], q);
      assert.equal(s.attributes['messaging.operation.type'], 'process');
    }
    assert.equal(runs[0]!.attributes['messaging.message.id'], parentId);
    assert.equal(runs[1]!.attributes['celery.retries'], 1);
    assert.equal(childRun.attributes['messaging.message.id'], childId);
    assert.equal(publish[0]!.attributes['messaging.destination.name'], q);

    // The retried attempt: not an error, its exception recorded as an event with the reason.
    assert.equal(runs[0]!.attributes['celery.state'], 'RETRY');
    assert.notEqual(runs[0]!.status.code, SpanStatusCode.ERROR);
    assert.match(String(runs[0]!.attributes['celery.retry.reason']), /TypeError/);
    const retryExc = runs[0]!.events.find((e) => e.name === 'exception');
    assert.equal(retryExc?.attributes?.['exception.type'], 'TypeError');
    assert.equal(runs[1]!.attributes['celery.state'], 'SUCCESS');
    // The failed subtask: ERROR, with the exception and its stack.
    assert.equal(childRun.status.code, SpanStatusCode.ERROR);
    assert.match(childRun.status.message ?? '', /RangeError/);
    const exc = childRun.events.find((e) => e.name === 'exception');
    assert.equal(exc?.attributes?.['exception.type'], 'RangeError');
    assert.equal(exc?.attributes?.['exception.message'], 'child 7 failed');
    assert.match(String(exc?.attributes?.['exception.stacktrace']), /otel-tasks\.ts/);
    assert.ok(byId.get(rootId), 'the caller span is in the trace');
  });
}

test('no tracer provider: no span, no trace header (the API alone costs a check)', async () => {
  trace.disable();
  exporter.reset();
  const q = fx.queue();
  const b = await fx.broker();
  const headers: Array<Record<string, unknown>> = [];
  await b.consume([q], 10, (d) => {
    headers.push(d.message!.headers);
    b.ack(d);
  });
  const app = new App({ brokerUrl: REDIS_URL, defaultQueue: q });
  apps.push(app);
  await app.sendTask('otel.parent', [1, q]).sent;
  await waitFor(() => headers.length === 1, 10_000, 'the message');
  assert.equal(headers[0]!.traceparent, undefined);
  assert.equal(exporter.getFinishedSpans().length, 0);
});

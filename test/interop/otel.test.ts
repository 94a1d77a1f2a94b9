/**
 * One trace Python → Sprig → Python on Redis. Python's opentelemetry package is not installable
 * here, so the Python client sends what opentelemetry-instrumentation-celery puts in a task
 * message (before_task_publish: `inject(headers)` into the protocol-v2 headers, with the default
 * W3C trace-context + baggage propagators): top-level `traceparent` / `tracestate` headers. The
 * Sprig worker (in this process, with the SDK's in-memory exporter) must continue that trace, and
 * the task it sends to a Celery worker must carry its own span's context where the instrumentation
 * reads it on the Python side (task_prerun: `extract(task.request)`, getattr on the request).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { context, propagation, trace, SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Worker, parseTraceparent } from '../../runtime/src/index.js';
import { RESULT_BACKEND, World } from './helpers.js';

const exporter = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));

const w = new World('redis');
after(() => w.cleanup());

test('Python → Sprig → Python: a traceparent sent by Python continues on the Sprig worker and reaches the Celery worker', async () => {
  const celery = w.startCeleryWorker();
  const q = w.queue();
  const worker = new Worker({
    app: path.join(__dirname, 'fixtures', 'otel-tasks.ts'),
    logWrite: () => undefined,
    config: { brokerUrl: w.url, resultBackend: RESULT_BACKEND, worker: { pool: 'async', concurrency: 1, queues: [q], hostname: `otel-${w.id}@interop` } },
  });
  await worker.start();
  try {
    await w.celeryWorkerReady(celery);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const pySpan = '00f067aa0ba902b7';
    const { results } = await w.pyClient(
      [{ key: 'relay', mode: 'send_task', name: 'proj.otel.relay', args: [w.queues.py], options: { headers: { traceparent: `00-${traceId}-${pySpan}-01`, tracestate: 'py=1' } } }],
      { queue: q },
    );
    assert.equal(results.relay!.state, 'SUCCESS', JSON.stringify(results));
    const pyTaskId = results.relay!.result as string;
    w.taskIds.add(pyTaskId);
    const seen = (await w.app().asyncResult<Record<string, string | null>>(pyTaskId).get({ timeout: 20 }))!;

    const spans = exporter.getFinishedSpans();
    const run = spans.find((s) => s.name === 'process proj.otel.relay');
    const publish = spans.find((s) => s.name === 'publish app.trace_headers');
    assert.ok(run && publish, spans.map((s) => s.name).join(', '));
    // Python → Sprig: the process span is a child of the Python publisher's span, in its trace.
    assert.equal(run.kind, SpanKind.CONSUMER);
    assert.equal(run.spanContext().traceId, traceId);
    assert.equal(run.parentSpanContext?.spanId, pySpan);
    assert.equal(run.spanContext().traceState?.get('py'), '1');
    // Sprig → Python: the Celery task's request carries the Sprig publish span's context.
    assert.equal(publish.parentSpanContext?.spanId, run.spanContext().spanId);
    const received = parseTraceparent(seen.traceparent ?? undefined);
    assert.ok(received, JSON.stringify(seen));
    assert.equal(received.traceId, traceId);
    assert.equal(received.spanId, publish.spanContext().spanId);
    assert.equal(seen.tracestate, 'py=1');
  } finally {
    await worker.stop();
  }
});

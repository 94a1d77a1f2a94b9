/** W3C trace context in task headers without a registered propagator (what a pool child with no SDK does). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as api from '@opentelemetry/api';
import { parseTraceparent } from '../../runtime/src/index.js';
import { extractContext, injectContext, passTraceHeaders } from '../../runtime/src/tracing/otel.js';

test('parseTraceparent: version 00, later versions, and what the spec says to ignore', () => {
  assert.deepEqual(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 });
  assert.ok(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-future'));
  for (const bad of ['', 'garbage', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01']) {
    assert.equal(parseTraceparent(bad), undefined, bad);
  }
});

test('extract then inject with no propagator registered: the same traceparent and tracestate come out', () => {
  const headers = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'py=1,x=2', task: 'add' };
  const ctx = extractContext(api, headers);
  const sc = api.trace.getSpanContext(ctx)!;
  assert.equal(sc.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(sc.isRemote, true);
  assert.deepEqual(injectContext(api, ctx), { traceparent: headers.traceparent, tracestate: 'py=1,x=2' });
  // AMQP header values may be bytes.
  assert.equal(api.trace.getSpanContext(extractContext(api, { traceparent: Buffer.from(headers.traceparent) }))?.spanId, '00f067aa0ba902b7');
  assert.equal(api.trace.getSpanContext(extractContext(api, { traceparent: 'nonsense' })), undefined);
  assert.deepEqual(injectContext(api, api.ROOT_CONTEXT), {});
  assert.deepEqual(passTraceHeaders({ traceparent: headers.traceparent, baggage: 'k=v', other: 1 }), { traceparent: headers.traceparent, baggage: 'k=v' });
  assert.equal(passTraceHeaders({ id: 'x' }), undefined);
});

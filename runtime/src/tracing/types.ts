/**
 * Trace context in task messages, without OpenTelemetry's types: what the package's public types may
 * mention (tracing/otel.ts, which loads the optional `@opentelemetry/api`, stays out of them).
 */
import type { Outcome } from '../protocol/outcome.js';

/** W3C trace context as message headers (plain strings: it crosses processes with the job). */
export type TraceCarrier = Record<string, string>;

/** The header names, as Python's Celery instrumentation writes them (the W3C + baggage propagators). */
export const TRACE_HEADERS = ['traceparent', 'tracestate', 'baggage'] as const;

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The W3C traceparent header, parsed (version 00 and later versions' first four fields). */
export function parseTraceparent(value: string | undefined): { traceId: string; spanId: string; traceFlags: number } | undefined {
  const m = value ? TRACEPARENT.exec(value.trim()) : null;
  if (!m || m[1] === 'ff' || (m[1] === '00' && m[5])) return undefined;
  if (/^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return undefined;
  return { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16) };
}

/** A publish in progress: its headers go into the message; `end` when the broker has it (or not). */
export interface PublishSpan {
  readonly headers: TraceCarrier;
  /** Set once the message is built and the broker known. */
  destination(queue: string, brokerKind: string): void;
  end(err?: unknown): void;
}

/** A task's "process" span, from hand-over to the pool until its outcome is recorded. */
export interface ProcessSpan {
  /** Its context for the job: the pool runs the task under it (`runInTrace`). */
  readonly carrier: TraceCarrier;
  /** The publish of this task's retry: a child of this span. */
  retryPublish(retries: number): PublishSpan;
  /** How the task ended: status, exception, celery.state. */
  outcome(o: Outcome): void;
  end(): void;
}

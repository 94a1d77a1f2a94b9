/** A control broadcast (Celery pidbox): method + arguments + where to reply. */
export interface ControlRequest {
  method: string;
  arguments: Record<string, unknown>;
  destination: string[] | null;
  pattern?: string | null;
  matcher?: string | null;
  ticket: string;
  reply_to: { exchange: string; routing_key: string } | null;
}

/** A pidbox broadcast body (Celery's `{method, arguments, destination, ..., ticket, reply_to}`). */
export function parseControl(body: unknown): ControlRequest | undefined {
  const b = body as Record<string, unknown> | null | undefined;
  if (!b || typeof b !== 'object' || typeof b.method !== 'string') return undefined;
  const replyTo = b.reply_to as { exchange?: unknown; routing_key?: unknown } | null | undefined;
  return {
    method: b.method,
    arguments: b.arguments && typeof b.arguments === 'object' ? (b.arguments as Record<string, unknown>) : {},
    destination: Array.isArray(b.destination) ? (b.destination as string[]) : null,
    pattern: typeof b.pattern === 'string' ? b.pattern : null,
    matcher: typeof b.matcher === 'string' ? b.matcher : null,
    ticket: typeof b.ticket === 'string' ? b.ticket : '',
    reply_to:
      replyTo && typeof replyTo.routing_key === 'string'
        ? { exchange: typeof replyTo.exchange === 'string' && replyTo.exchange ? replyTo.exchange : 'reply.celery.pidbox', routing_key: replyTo.routing_key }
        : null,
  };
}

/** The broadcast body Celery sends, keys in Celery's order (Redis and AMQP carry the same body). */
export function controlBody(r: ControlRequest): Record<string, unknown> {
  return {
    method: r.method,
    arguments: r.arguments,
    destination: r.destination,
    pattern: r.pattern ?? null,
    matcher: r.matcher ?? null,
    ticket: r.ticket,
    reply_to: r.reply_to,
  };
}

import { encodeEnvelope, type TransportMessage } from '../../protocol/message.js';
import { ident } from './connection.js';

/**
 * The one INSERT of a batch of messages: arrays of queue, priority, body and visible-at (the ETA:
 * a countdown or ETA waits in the table, not in a worker's memory). Used by the broker and by a
 * caller's own transaction alike.
 */
export function insertMessagesSql(schema: string): string {
  return `INSERT INTO ${ident(schema)}.messages (queue, priority, body, visible_at)
    SELECT q, p, b, COALESCE(v, now()) FROM unnest($1::text[], $2::smallint[], $3::text[], $4::timestamptz[]) AS m(q, p, b, v)`;
}

export function messageRows(items: ReadonlyArray<{ queue: string; message: TransportMessage }>): [string[], number[], string[], Array<string | null>] {
  const queues: string[] = [];
  const prios: number[] = [];
  const bodies: string[] = [];
  const etas: Array<string | null> = [];
  for (const { queue, message } of items) {
    queues.push(queue);
    const p = Number(message.properties.priority ?? 0);
    prios.push(Number.isFinite(p) ? Math.max(0, Math.min(255, Math.floor(p))) : 0);
    bodies.push(encodeEnvelope(message));
    const eta = message.headers.eta;
    etas.push(typeof eta === 'string' && eta ? eta : null);
  }
  return [queues, prios, bodies, etas];
}

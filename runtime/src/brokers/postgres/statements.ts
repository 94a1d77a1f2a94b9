import { ident } from './connection.js';

/**
 * The fetch: up to $2 visible rows of the queues $1, taken under holder $3 with a fresh lease of $4
 * ms. Per queue (LATERAL: `queue = q` keeps each index walk in order and stops after $2 rows; a
 * `queue = ANY($1)` scan returns the rows of all queues unordered, to be sorted whole) two
 * candidate sets, each from its own index, never a scan over far-future rows:
 * - ready rows (`NOT scheduled`: no ETA, or one already taken once) from messages_ready in
 *   priority order; their visible_at is in the past unless a live holder leased them;
 * - due scheduled rows (an ETA that has come) from messages_scheduled, earliest first: the range
 *   `visible_at <= now()` stops at the first future ETA, so 100k rows due next year cost nothing.
 * The best $2 of all, by priority then id, are leased (and leave `scheduled`).
 */
export function fetchSql(schema: string): string {
  const s = ident(schema);
  const free = `(holder IS NULL OR NOT ${s}.holder_alive(holder))`;
  return `WITH qs AS (SELECT DISTINCT q FROM unnest($1::text[]) AS u(q)),
     r AS (
       SELECT x.id, x.priority FROM qs, LATERAL (
         SELECT id, priority FROM ${s}.messages
         WHERE NOT scheduled AND queue = qs.q AND visible_at <= now() AND ${free}
         ORDER BY priority DESC, id
         LIMIT $2
         FOR UPDATE SKIP LOCKED) x),
     d AS (
       SELECT x.id, x.priority FROM qs, LATERAL (
         SELECT id, priority FROM ${s}.messages
         WHERE scheduled AND queue = qs.q AND visible_at <= now() AND ${free}
         ORDER BY visible_at
         LIMIT $2
         FOR UPDATE SKIP LOCKED) x),
     c AS (SELECT id FROM (SELECT * FROM r UNION ALL SELECT * FROM d) x ORDER BY priority DESC, id LIMIT $2)
   UPDATE ${s}.messages m
   SET holder = $3, lease = gen_random_uuid(), visible_at = now() + $4 * interval '1 millisecond', deliveries = m.deliveries + 1, scheduled = false
   FROM c WHERE m.id = c.id
   RETURNING m.id::text AS id, m.queue, m.body, m.deliveries, m.lease::text AS lease, m.priority`;
}

/**
 * Milliseconds until the next scheduled row of $1 comes due (its ETA). A lease running out (a dead
 * holder's rows) is not looked for here: the safety poll (`poll_interval`) finds it.
 */
export function nextVisibleSql(schema: string): string {
  return `SELECT (extract(epoch FROM min(n.at) - now()) * 1000)::float8 AS ms
    FROM unnest($1::text[]) AS u(q), LATERAL (
      SELECT visible_at AS at FROM ${ident(schema)}.messages
      WHERE scheduled AND queue = u.q AND visible_at > now()
      ORDER BY visible_at LIMIT 1) n`;
}

import type { TransportMessage } from '../../protocol/message.js';
import { encodeEnvelopes, envelopeColumns, type EnvelopeColumns } from '../../protocol/envelope-batch.js';
import { ident } from './connection.js';

/**
 * Bodies travel as ONE text parameter joined by U+001E, split on the server by string_to_array:
 * a `text[]` parameter costs the client a quote-escaping pass over every JSON body and the server
 * array_in's unescaping (measured: ~2x the whole INSERT of 1,000 envelopes). An envelope is
 * JSON.stringify output, which escapes every control character, so it never holds U+001E; a
 * batch where one does anyway (a raw body) goes as an array.
 */
const SEP = '\u001e';

/**
 * The one INSERT of a batch of messages: queue, priority, body and visible-at (the ETA: a countdown
 * or ETA waits in the table, not in a worker's memory; a future one marks the row `scheduled`, out
 * of the fetch index). Used by the broker and by a caller's own transaction alike. A batch of one
 * queue and one priority with no ETA (a bulk enqueue of one task) sends those once, not per row:
 * the client's array encoding of a queue name per row was a tenth of its time (bench/postgres.ts).
 * Such a batch whose envelopes differ only in ids and reprs (envelopeColumns) sends the envelope's
 * template once and the values per row, and the server concatenates each envelope (the same bytes
 * as encodeEnvelope): bench/pg-bulk-cpu.ts, 1,000 rows, ~80 KB sent instead of ~790 KB, client
 * CPU 7.5 -> 2 ms, backend CPU 13 -> 9 ms.
 */
export interface InsertStatement {
  /** Stable per text: the name of its prepared statement. */
  key: 'insert' | 'insert_array' | 'insert_one' | 'insert_one_array' | 'insert_template';
  text: string;
  values: unknown[];
}

export function insertMessages(schema: string, items: ReadonlyArray<{ queue: string; message: TransportMessage }>): InsertStatement {
  const [queues, prios, etas] = messageRows(items);
  const into = `INSERT INTO ${ident(schema)}.messages (queue, priority, body, visible_at, scheduled)`;
  const one = uniform(queues) && uniform(prios) && etas.every((e) => e === null);
  const columns = one ? envelopeColumns(items.map((i) => i.message)) : undefined;
  if (columns) return templated(into, queues[0]!, prios[0]!, columns);
  const bodies = encodeEnvelopes(items.map((i) => i.message));
  const joined = !bodies.some((b) => b.includes(SEP));
  const bodyArg = joined ? `string_to_array($3::text, E'\\x1e')` : '$3::text[]';
  const bodyValue = joined ? bodies.join(SEP) : bodies;
  if (one) {
    return {
      key: joined ? 'insert_one' : 'insert_one_array',
      text: `${into}\n    SELECT $1::text, $2::smallint, b, now(), false FROM unnest(${bodyArg}) AS m(b)`,
      values: [queues[0], prios[0], bodyValue],
    };
  }
  const text = `${into}
    SELECT q, p, b, COALESCE(v, now()), COALESCE(v > now(), false)
    FROM unnest($1::text[], $2::smallint[], ${bodyArg}, $4::timestamptz[]) AS m(q, p, b, v)`;
  return { key: joined ? 'insert' : 'insert_array', text, values: [queues, prios, bodyValue, etas] };
}

/**
 * Each row's body is parts[0] || c<slot 0> || parts[1] || ... (text ||, not concat(): ~20% less
 * backend CPU). Parts are parameters $3..; each column one text joined by SEP (no value holds it:
 * EnvelopeColumns), split by string_to_array, the columns unnested side by side: one row each.
 */
function templated(into: string, queue: string, priority: number, { parts, slots, columns }: EnvelopeColumns): InsertStatement {
  const col = (c: number) => `$${3 + parts.length + c}`;
  let body = '$3::text';
  slots.forEach((c, i) => (body += ` || c${c} || $${4 + i}::text`));
  const arrays = columns.map((_, c) => `string_to_array(${col(c)}::text, E'\\x1e')`).join(', ');
  const names = columns.map((_, c) => `c${c}`).join(', ');
  return {
    key: 'insert_template',
    text: `${into}\n    SELECT $1::text, $2::smallint, ${body}, now(), false FROM unnest(${arrays}) AS m(${names})`,
    values: [queue, priority, ...parts, ...columns.map((c) => c.join(SEP))],
  };
}

function uniform<T>(xs: readonly T[]): boolean {
  for (let i = 1; i < xs.length; i++) if (xs[i] !== xs[0]) return false;
  return true;
}

export function messageRows(items: ReadonlyArray<{ queue: string; message: TransportMessage }>): [string[], number[], Array<string | null>] {
  const n = items.length;
  const queues: string[] = new Array<string>(n);
  const prios: number[] = new Array<number>(n);
  const etas: Array<string | null> = new Array<string | null>(n);
  for (let i = 0; i < n; i++) {
    const { queue, message } = items[i]!;
    queues[i] = queue;
    const p = Number(message.properties.priority ?? 0);
    prios[i] = Number.isFinite(p) ? Math.max(0, Math.min(255, Math.floor(p))) : 0;
    const eta = message.headers.eta;
    etas[i] = typeof eta === 'string' && eta ? eta : null;
  }
  return [queues, prios, etas];
}

import type pg from 'pg';
import { ident } from './connection.js';

/** pg_notify refuses payloads of 8000 bytes and more; past this a payload goes through the spill table. */
export const MAX_NOTIFY_BYTES = 7900;
/** A spilled payload's NOTIFY: '#<id of its notify_spill row>' (events and control bodies are JSON objects: '{'). */
const SPILL_MARK = '#';
/** Spilled rows are read at once by every listener; older ones are deleted by the next spill. */
const SPILL_KEEP = "interval '10 minutes'";

type Query = (text: string, values: unknown[]) => Promise<pg.QueryResult>;

/**
 * NOTIFY with payloads of any size on one schema's channels: up to MAX_NOTIFY_BYTES as they are,
 * a bigger one written to `<schema>.notify_spill` and NOTIFYed as its id. Senders keep their order
 * (one batch after the other); receivers deliver in the order the notifications came, a spilled one
 * once its row is read (those after it wait for it).
 */
export class Notifier {
  private flight: Promise<void> = Promise.resolve();
  private delivering?: Promise<void>;

  constructor(
    private readonly schema: string,
    private readonly query: Query,
  ) {}

  /** NOTIFY `payloads` on `channel`, in order. */
  send(channel: string, payloads: readonly string[]): Promise<void> {
    const run = () => this.sendNow(channel, payloads);
    const p = this.flight.then(run, run);
    this.flight = p.catch(() => undefined);
    return p;
  }

  /** Everything sent so far has gone out (or failed). */
  idle(): Promise<void> {
    return this.flight;
  }

  private async sendNow(channel: string, payloads: readonly string[]): Promise<void> {
    let small: string[] = [];
    const flushSmall = async () => {
      if (!small.length) return;
      const batch = small;
      small = [];
      await this.query('SELECT pg_notify($1, e) FROM unnest($2::text[]) AS e', [channel, batch]);
    };
    const s = ident(this.schema);
    for (const p of payloads) {
      if (Buffer.byteLength(p) <= MAX_NOTIFY_BYTES) {
        small.push(p);
        continue;
      }
      await flushSmall();
      await this.query(
        `WITH old AS (DELETE FROM ${s}.notify_spill WHERE created_at < now() - ${SPILL_KEEP}),
              i AS (INSERT INTO ${s}.notify_spill (payload) VALUES ($2) RETURNING id)
         SELECT pg_notify($1, '${SPILL_MARK}' || id) FROM i`,
        [channel, p],
      );
    }
    await flushSmall();
  }

  /** Hand a received notification to `deliver`, reading a spilled payload first; order is kept. */
  receive(channel: string, payload: string, deliver: (channel: string, payload: string) => void): void {
    const spilled = payload.startsWith(SPILL_MARK);
    if (!spilled && !this.delivering) return deliver(channel, payload);
    const load = spilled ? this.load(payload.slice(SPILL_MARK.length)) : Promise.resolve(payload);
    const p = (this.delivering ?? Promise.resolve())
      .then(() => load)
      .then(
        (full) => {
          if (full !== undefined) deliver(channel, full);
        },
        () => undefined, // gone (older than SPILL_KEEP) or unreadable: best effort, like the NOTIFY itself
      );
    this.delivering = p;
    void p.then(() => {
      if (this.delivering === p) this.delivering = undefined;
    });
  }

  private async load(id: string): Promise<string | undefined> {
    if (!/^[0-9]{1,18}$/.test(id)) return undefined;
    const r = await this.query(`SELECT payload FROM ${ident(this.schema)}.notify_spill WHERE id = $1`, [id]);
    return (r.rows[0] as { payload?: string } | undefined)?.payload;
  }
}

import { DEFAULT_RESULT_EXPIRES, type ChordJoin, type ResultBackend, type ResultMeta } from '../../backends/types.js';
import { TimeoutError } from '../../errors.js';
import type { HubLink } from './protocol.js';

/** Results kept by the Hub (journaled by the embedded broker server, with expiry), over the broker's link. */
export class EmbeddedBackend implements ResultBackend {
  readonly kind = 'embedded';

  /** `owned`: close() closes the connection too (a backend made without a broker). */
  constructor(
    private readonly conn: HubLink,
    private readonly owned = false,
    private readonly defaultExpires = DEFAULT_RESULT_EXPIRES,
  ) {}

  async store(meta: ResultMeta, expiresSec?: number): Promise<void> {
    if (this.owned) await this.conn.connect();
    await this.conn.request('resultSet', { meta, expiresSec: expiresSec ?? this.defaultExpires });
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    if (this.owned) await this.conn.connect();
    return this.conn.request('resultGet', { taskId });
  }

  async waitFor(taskId: string, timeoutMs: number | undefined): Promise<ResultMeta> {
    if (this.owned) await this.conn.connect();
    const meta = await this.conn.request('resultWait', timeoutMs === undefined ? { taskId } : { taskId, timeoutMs });
    if (!meta) throw new TimeoutError(`no result for task ${taskId} within ${(timeoutMs ?? 0) / 1000}s`);
    return meta;
  }

  /** The Hub's atomic join (one request each, run to completion in the Hub: no interleaving). */
  readonly chords: ChordJoin = {
    setSize: async (groupId, size) => {
      if (this.owned) await this.conn.connect();
      await this.conn.request('chordSize', { groupId, size });
    },
    partReturn: async (part) => {
      if (this.owned) await this.conn.connect();
      return this.conn.request('chordPart', { part });
    },
    done: async (groupId) => {
      if (this.owned) await this.conn.connect();
      await this.conn.request('chordDone', { groupId });
    },
    add: async (groupId, n) => {
      if (this.owned) await this.conn.connect();
      await this.conn.request('chordAdd', { groupId, n });
    },
  };

  async forget(taskId: string): Promise<void> {
    if (this.owned) await this.conn.connect();
    await this.conn.request('resultForget', { taskId });
  }

  async close(): Promise<void> {
    if (this.owned) await this.conn.close();
  }
}

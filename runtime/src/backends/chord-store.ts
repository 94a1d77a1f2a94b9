import type { ChordEntry, ChordPart } from './types.js';

interface Join {
  size?: number;
  /** Parts added later (Celery's add_to_chord, Redis's `.t`): the join waits for size + added. */
  added?: number;
  parts: Map<string, ChordEntry & { index: number }>;
  /** The part that completed the join (it calls the body; only it again if it is redelivered). */
  fired?: string;
  touched: number;
}

/** Default life of a join nobody finishes (a day, as results). */
const JOIN_TTL_MS = 86_400_000;

/**
 * Chord joins kept in memory, the Hub's (embedded broker and memory://): the same rules as the
 * Redis script (brokers/redis/lua/chord-part-5.lua): each part task id counts once; the part that
 * makes the count reach the size gets every part back, in header order.
 */
export class ChordStore {
  private readonly joins = new Map<string, Join>();

  private join(groupId: string): Join {
    let j = this.joins.get(groupId);
    if (!j) this.joins.set(groupId, (j = { parts: new Map(), touched: Date.now() }));
    j.touched = Date.now();
    return j;
  }

  setSize(groupId: string, size: number): void {
    this.join(groupId).size = size;
  }

  add(groupId: string, n: number): void {
    const j = this.join(groupId);
    j.added = (j.added ?? 0) + n;
  }

  partReturn(p: ChordPart): ChordEntry[] | null {
    const j = this.join(p.groupId);
    const isNew = !j.parts.has(p.taskId);
    if (isNew) j.parts.set(p.taskId, { taskId: p.taskId, state: p.state, result: p.result, index: p.groupIndex ?? Number.POSITIVE_INFINITY });
    if (j.size === undefined || j.parts.size !== j.size + (j.added ?? 0)) return null;
    if (j.fired !== undefined && j.fired !== p.taskId) return null;
    if (j.fired === undefined) {
      if (!isNew) return null;
      j.fired = p.taskId;
    }
    return [...j.parts.values()]
      .sort((a, b) => a.index - b.index || (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0))
      .map(({ taskId, state, result }) => ({ taskId, state, result }));
  }

  done(groupId: string): void {
    this.joins.delete(groupId);
  }

  /** Drop joins untouched for a day. */
  sweep(now = Date.now()): void {
    for (const [id, j] of this.joins) if (now - j.touched > JOIN_TTL_MS) this.joins.delete(id);
  }
}

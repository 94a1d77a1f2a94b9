import { ProtocolError } from '../../errors.js';
import { checkLeaseName, type LeaseCommitResult, type LeaseSnapshot, type LeaseStateChange } from '../lease.js';
import type { JournalRecord } from './journal.js';

/**
 * The Hub's beat leases (lease.ts): who holds each lease until when, in memory only (after a broker
 * restart the old holder takes its lease back on its next renewal), and the state beside each lease,
 * which the journal keeps (`b` records) so the next active scheduler continues where the last one stopped.
 */
export class HubLeases {
  private readonly held = new Map<string, { holder: string; until: number }>();
  private readonly state = new Map<string, Map<string, string>>();

  constructor(initial: ReadonlyArray<{ name: string; field: string; value: string }> = [], private readonly now = () => Date.now()) {
    for (const r of initial) this.fields(r.name).set(r.field, r.value);
  }

  acquire(name: string, holder: string, ttlMs: number): boolean {
    checkLeaseName(name);
    if (typeof holder !== 'string' || !holder) throw new ProtocolError('leaseAcquire: holder must be a non-empty string');
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new ProtocolError('leaseAcquire: ttlMs must be a positive number');
    const current = this.holderOf(name);
    if (current !== null && current !== holder) return false;
    this.held.set(name, { holder, until: this.now() + ttlMs });
    return true;
  }

  release(name: string, holder: string): void {
    if (this.holderOf(name) === holder) this.held.delete(name);
  }

  read(name: string): LeaseSnapshot {
    checkLeaseName(name);
    return { holder: this.holderOf(name), state: Object.fromEntries(this.state.get(name) ?? []) };
  }

  /**
   * Check and apply a commit's state changes; returns the journal records that make them durable
   * (written in the same commit as the messages). Applied to memory at once: a scheduler that takes
   * over while the journal write is on its way must already see them.
   */
  commitState(name: string, holder: string, changes: readonly LeaseStateChange[]): { result: LeaseCommitResult; records: JournalRecord[] } {
    checkLeaseName(name);
    if (!Array.isArray(changes) || changes.some((c) => !c || typeof c.field !== 'string' || typeof c.value !== 'string' || (c.expect !== null && typeof c.expect !== 'string'))) {
      throw new ProtocolError('leaseCommit: changes must be [{ field, expect: string | null, value }]');
    }
    if (this.holderOf(name) !== holder) return { result: 'not-holder', records: [] };
    const fields = this.fields(name);
    for (const c of changes) if ((fields.get(c.field) ?? null) !== c.expect) return { result: 'conflict', records: [] };
    for (const c of changes) fields.set(c.field, c.value);
    return { result: 'ok', records: changes.map((c) => ({ t: 'b', name, field: c.field, value: c.value })) };
  }

  /** For a journal compaction snapshot. */
  *records(): Iterable<JournalRecord> {
    for (const [name, fields] of this.state) for (const [field, value] of fields) yield { t: 'b', name, field, value };
  }

  private holderOf(name: string): string | null {
    const h = this.held.get(name);
    if (!h) return null;
    if (h.until <= this.now()) {
      this.held.delete(name);
      return null;
    }
    return h.holder;
  }

  private fields(name: string): Map<string, string> {
    let f = this.state.get(name);
    if (!f) this.state.set(name, (f = new Map()));
    return f;
  }
}

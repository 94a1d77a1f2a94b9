import type { TransportMessage } from '../protocol/message.js';

/**
 * The beat scheduler's one primitive per broker (see docs/beat.md): a named lease that one holder
 * has at a time and that expires unless renewed, a small string map kept beside it (the last run of
 * each schedule entry), and a commit that, in one atomic step and only while the caller still holds
 * the lease and the map still says what the caller read, updates the map and publishes messages.
 *
 * The lease makes one scheduler active; the compare-and-set commit is what makes a due run go out
 * exactly once even across a takeover: a run is recorded and sent together or not at all, and a
 * commit resent after a lost reply (or made by a scheduler that lost the lease) changes nothing.
 */
export interface LeaseStateChange {
  field: string;
  /** What the field must hold now (null: absent), else the commit is a 'conflict'. */
  expect: string | null;
  value: string;
}

export type LeaseCommitResult = 'ok' | 'not-holder' | 'conflict';

export interface LeaseSnapshot {
  /** Who holds the lease now (null: nobody, or it expired). */
  holder: string | null;
  state: Record<string, string>;
}

export interface LeaseStore {
  /** Take the lease if it is free, or renew it if `holder` has it; true when `holder` holds it now for `ttlMs`. */
  acquire(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Give the lease up if `holder` has it (another scheduler can take over at once). */
  release(name: string, holder: string): Promise<void>;
  read(name: string): Promise<LeaseSnapshot>;
  commit(
    name: string,
    holder: string,
    changes: readonly LeaseStateChange[],
    publish: ReadonlyArray<{ queue: string; message: TransportMessage }>,
  ): Promise<LeaseCommitResult>;
}

/** Names are part of broker keys: keep them to a safe alphabet. */
export function checkLeaseName(name: string): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,200}$/.test(name)) {
    throw new TypeError(`lease name must be 1-200 characters of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(name)}`);
  }
  return name;
}

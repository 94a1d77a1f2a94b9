import type { Job, Outcome } from '../trace.js';
import type { ShutdownMode } from '../../util/child-ipc.js';

/**
 * Parent <-> pool child messages. Jobs and results travel in batches (one IPC message for many
 * tasks); a child runs its jobs one at a time, in the order received, so the parent always knows
 * which one is running: the oldest without a result.
 */
export type ToChild =
  | { t: 'init'; bundle: string; reportMemory: boolean }
  | { t: 'run'; jobs: Job[] }
  /** Soft limit / terminate: abort the running job's signal, or drop it if it has not started. */
  | { t: 'abort'; id: string; reason: 'soft' | 'terminate'; seconds?: number }
  /** Revoked while it waits in this child's batch: discard it when its turn comes. */
  | { t: 'revoke'; id: string }
  /**
   * Shutdown over the channel (no signal: Windows has none to give). 'warm': finish the jobs already
   * sent, then exit; 'cold': hand back what is done and exit now, the running job unfinished.
   */
  | { t: 'shutdown'; mode: ShutdownMode };

export interface JobDone {
  id: string;
  outcome: Outcome;
}

export type FromChild =
  | { t: 'ready'; tasks: string[]; pid: number }
  | { t: 'init-error'; message: string }
  | { t: 'done'; results: JobDone[]; rss?: number };

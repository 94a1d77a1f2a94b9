import type { Job, Outcome } from '../trace.js';
import { parseJson, stringifyJson } from '../../serialization/json.js';

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
  /** Finish the jobs already sent, then exit. */
  | { t: 'exit' }
  | JsonWrapped;

/**
 * A message the JSON channel cannot carry as it is (it holds a BigInt: a Python integer past
 * 2**53), sent as text written by json.ts and read back the same way.
 */
export interface JsonWrapped {
  t: 'json';
  text: string;
}

/** Send `m` over a JSON IPC channel; one that holds a BigInt goes as JsonWrapped text. */
export function sendExact<M>(send: (m: M | JsonWrapped) => void, m: M): void {
  try {
    send(m);
  } catch (err) {
    if (!(err instanceof TypeError) || !/BigInt/i.test(err.message)) throw err;
    send({ t: 'json', text: stringifyJson(m) });
  }
}

/** The message as sent: JsonWrapped text read back with its BigInts. */
export function unwrapExact<M>(m: M | JsonWrapped): M {
  return (m as JsonWrapped).t === 'json' ? (parseJson((m as JsonWrapped).text) as M) : (m as M);
}

export interface JobDone {
  id: string;
  outcome: Outcome;
}

export type FromChild =
  | { t: 'ready'; tasks: string[]; pid: number }
  | { t: 'init-error'; message: string }
  | { t: 'done'; results: JobDone[]; rss?: number }
  | JsonWrapped;

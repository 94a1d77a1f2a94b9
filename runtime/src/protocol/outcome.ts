import type { ExceptionInfo } from '../errors.js';
import type { SignatureDict } from './signature.js';

/**
 * How one run of a task ended: made by the worker (worker/trace.ts), carried over the pool's IPC,
 * read by the tracing spans. Here, below all of them, so each can name it.
 */
export type Outcome = (
  | { state: 'SUCCESS'; result: unknown; runtime: number }
  | { state: 'FAILURE'; exc: ExceptionInfo; traceback: string; repr: string; runtime: number }
  | { state: 'RETRY'; countdown: number; exc: ExceptionInfo | null; traceback: string; repr: string; runtime: number }
  | { state: 'IGNORED'; runtime: number }
  | { state: 'REJECTED'; requeue: boolean; reason: string; runtime: number }
  /** The pool child running it died (set by the pool, never by the task). */
  | { state: 'LOST'; reason: string; runtime: number }
  /** Never started: revoked, or past its expiry, when its turn came in the pool (hand-off.ts). */
  | { state: 'REVOKED'; expired: boolean; runtime: number }
  /** The task called ctx.replace(sig): the worker sends `sig` in its place (Celery's Task.replace). */
  | { state: 'REPLACED'; sig: SignatureDict; runtime: number }
) & {
  /** Chord parts the task added with ctx.addToChord(): the worker sends them before anything else. */
  added?: SignatureDict[];
};


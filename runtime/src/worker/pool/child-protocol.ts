import type { Job, Outcome } from '../trace.js';

/** Parent -> child. */
export type ToChild =
  | { t: 'init'; bundle: string; reportMemory: boolean }
  | { t: 'run'; job: Job }
  | { t: 'abort'; id: string; reason: 'soft' | 'terminate'; seconds?: number }
  | { t: 'exit' };

/** Child -> parent. */
export type FromChild =
  | { t: 'ready'; tasks: string[]; pid: number }
  | { t: 'init-error'; message: string }
  | { t: 'done'; id: string; outcome: Outcome; rss?: number };

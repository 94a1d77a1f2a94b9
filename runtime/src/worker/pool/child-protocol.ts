import type { Job, Outcome } from '../trace.js';
import type { ProgressReport } from '../../app/task.js';
import { randomBytes } from 'node:crypto';
import type { ShutdownMode } from '../../util/child-ipc.js';

/**
 * Parent <-> pool child messages. Jobs and results travel in batches (one IPC message for many
 * tasks); a child runs its jobs one at a time, in the order received, so the parent always knows
 * which one is running: the oldest without a result.
 */
export type ToChild =
  | { t: 'init'; bundle: string; reportMemory: boolean }
  | { t: 'run'; jobs: WireJob[] }
  /** Soft limit / terminate: abort the running job's signal, or drop it if it has not started. */
  | { t: 'abort'; id: string; reason: 'soft' | 'terminate'; seconds?: number }
  /** Revoked while it waits in this child's batch: discard it when its turn comes. */
  | { t: 'revoke'; id: string }
  /**
   * Shutdown over the channel (no signal: Windows has none to give). 'warm': finish the jobs already
   * sent, then exit; 'cold': hand back what is done and exit now, the running job unfinished.
   */
  | { t: 'shutdown'; mode: ShutdownMode }
  | JsonWrapped;

/**
 * A job as it crosses the channel: its null fields and empty headers are left out. For a small task they are most of the bytes, and writing and
 * parsing those bytes is most of what the worker's main process spends per task on a process pool.
 */
export type WireJob = Partial<Job> & Pick<Job, 'id' | 'name' | 'args' | 'kwargs' | 'retries'>;

const NO_HEADERS: Readonly<Record<string, unknown>> = Object.freeze({});

export function packJob(job: Job): WireJob {
  const w: Record<string, unknown> = {};
  for (const k in job) {
    const v = job[k as keyof Job];
    if (v === null || v === undefined) continue;
    if (k === 'headers') {
      let empty = true;
      for (const _ in v as object) {
        empty = false;
        break;
      }
      if (empty) continue;
    }
    w[k] = v;
  }
  return w as WireJob;
}

export function unpackJob(w: WireJob): Job {
  return { eta: null, rootId: null, parentId: null, groupId: null, timeLimit: null, softTimeLimit: null, expires: null, headers: NO_HEADERS, hostname: '', ...w };
}

/**
 * A message the JSON channel cannot carry as it is: it holds a BigInt (a Python integer past
 * 2**53), which JSON.stringify refuses, or bytes (msgpack's bin, YAML's !!binary), which it would
 * turn into `{type: 'Buffer', data: [...]}`. Sent as text with those values tagged, and read back
 * as they were.
 */
export interface JsonWrapped {
  t: 'json';
  text: string;
}

// Tag keys with a per-process nonce: an ordinary object never looks like one. (Children are
// forked from this module too, but the parent and a child each read what the other wrote, so
// the key travels with the text.)
const TAG = `\u0000sprig-${randomBytes(6).toString('hex')}`;

function tagValues(this: unknown, key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return { [`${TAG}:bigint`]: v.toString() };
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Uint8Array) return { [`${TAG}:bytes`]: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') };
  return v;
}

function wrap(m: unknown): JsonWrapped {
  return { t: 'json', text: `${TAG}\n${JSON.stringify(m, tagValues)}` };
}

/**
 * Send `m` over a JSON IPC channel. `binary`: it may hold bytes (the job came in a serializer that
 * has them), so it goes wrapped; otherwise it goes as it is, and wrapped only if JSON refuses it.
 */
export function sendExact<M>(send: (m: M | JsonWrapped) => void, m: M, binary = false): void {
  if (binary) return send(wrap(m));
  try {
    send(m);
  } catch (err) {
    if (!(err instanceof TypeError) || !/BigInt/i.test(err.message)) throw err;
    send(wrap(m));
  }
}

/** The message as sent: JsonWrapped text read back with its BigInts and bytes. */
export function unwrapExact<M>(m: M | JsonWrapped): M {
  if ((m as JsonWrapped).t !== 'json') return m as M;
  const text = (m as JsonWrapped).text;
  const nl = text.indexOf('\n');
  const tag = text.slice(0, nl);
  const big = `${tag}:bigint`;
  const bytes = `${tag}:bytes`;
  return JSON.parse(text.slice(nl + 1), (_k, v: unknown) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
    const o = v as Record<string, unknown>;
    if (typeof o[big] === 'string') return BigInt(o[big] as string);
    if (typeof o[bytes] === 'string') return Buffer.from(o[bytes] as string, 'base64');
    return v;
  }) as M;
}

export interface JobDone {
  id: string;
  outcome: Outcome;
}

export type FromChild =
  | { t: 'ready'; tasks: string[]; pid: number }
  | { t: 'init-error'; message: string }
  | { t: 'done'; results: JobDone[]; rss?: number }
  /** The running job reported progress (ctx.progress / ctx.updateState): sent at once, not batched. */
  | { t: 'progress'; id: string; report: ProgressReport }
  | JsonWrapped;

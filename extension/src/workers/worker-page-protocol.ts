/**
 * The typed protocol of a worker's page (a webview panel per worker: worker-page.ts, and
 * webview-ui/src/worker-page.ts). No `vscode` import: the webview bundles this file too.
 */

/** What the page shows: the worker's answers to the inspect commands (null: it did not answer). */
export interface WorkerPageInfo {
  hostname: string;
  /** Seconds since the epoch of this reading. */
  at: number;
  online: boolean;
  stats: Record<string, unknown> | null;
  registered: string[] | null;
  activeQueues: string[] | null;
  conf: Record<string, unknown> | null;
  /** Tasks running now (inspect active): id and name. */
  active: Array<{ id: string; name: string }> | null;
  error?: string;
}

/** The remote control commands the page sends (`sprig control ...`), with their arguments. */
export interface WorkerControlMap {
  pool_grow: { n: number };
  pool_shrink: { n: number };
  autoscale: { max: number; min: number };
  rate_limit: { task_name: string; rate_limit: string | null };
  time_limit: { task_name: string; soft: number | null; hard: number | null };
  shutdown: Record<string, never>;
}
export type WorkerControlMethod = keyof WorkerControlMap;
export const WORKER_CONTROL_METHODS: readonly WorkerControlMethod[] = ['pool_grow', 'pool_shrink', 'autoscale', 'rate_limit', 'time_limit', 'shutdown'];

// ---- webview → extension --------------------------------------------------------------------
export interface PageReadyCommand { method: 'ready' }
export interface PageRefreshCommand { method: 'refresh' }
export interface PageControlRequest<M extends WorkerControlMethod = WorkerControlMethod> { method: 'control'; id: number; params: { command: M; args: WorkerControlMap[M] } }

// ---- extension → webview --------------------------------------------------------------------
export interface PageInfoNotification { method: 'info'; params: WorkerPageInfo }
/** The worker's reply to a control command: `ok` text, or the error it (or the extension) gave. */
export interface PageControlReply { method: 'reply'; id: number; ok: boolean; text: string }

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object';
const has = (m: unknown, method: string): m is Record<string, unknown> => isObj(m) && m.method === method;
const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
const numOrNull = (v: unknown) => v === null || isNum(v);

export const isPageReady = (m: unknown): m is PageReadyCommand => has(m, 'ready');
export const isPageRefresh = (m: unknown): m is PageRefreshCommand => has(m, 'refresh');

/** A control request whose arguments have the types its command needs (values are checked again by the worker). */
export function isPageControl(m: unknown): m is PageControlRequest {
  if (!has(m, 'control') || typeof m.id !== 'number' || !isObj(m.params) || !isObj(m.params.args)) return false;
  const a = m.params.args;
  switch (m.params.command) {
    case 'pool_grow':
    case 'pool_shrink':
      return Number.isInteger(a.n);
    case 'autoscale':
      return Number.isInteger(a.max) && Number.isInteger(a.min);
    case 'rate_limit':
      return typeof a.task_name === 'string' && (a.rate_limit === null || typeof a.rate_limit === 'string');
    case 'time_limit':
      return typeof a.task_name === 'string' && numOrNull(a.soft) && numOrNull(a.hard);
    case 'shutdown':
      return true;
    default:
      return false;
  }
}

export const isPageInfo = (m: unknown): m is PageInfoNotification => has(m, 'info') && isObj(m.params) && typeof m.params.hostname === 'string';
export const isPageReply = (m: unknown): m is PageControlReply => has(m, 'reply') && typeof m.id === 'number' && typeof m.ok === 'boolean' && typeof m.text === 'string';

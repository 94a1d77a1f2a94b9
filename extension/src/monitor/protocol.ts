/**
 * The one typed protocol between the extension and the monitor webview (GitLens ipc style):
 * commands (webview → extension, no reply), requests (webview → extension, with a reply carrying
 * the same id) and notifications (extension → webview). Each has a type guard. No `vscode` import:
 * the webview bundles this file too.
 */
import type { SprigEvent } from '../../../runtime/src/events/types.js';
import type { ClusterSnapshot } from '../../../runtime/src/events/state.js';

interface MessageType<M extends string> {
  readonly method: M;
}

// ---- commands: webview → extension, fire and forget ----------------------------------------

export interface ReadyCommand { method: 'ready' }
export interface OpenLocationCommand { method: 'openLocation'; params: { file: string; line: number; column: number } }
export interface SetPausedCommand { method: 'setPaused'; params: { paused: boolean } }
export interface ClearCommand { method: 'clear' }

export type WebviewCommand = ReadyCommand | OpenLocationCommand | SetPausedCommand | ClearCommand;

// ---- requests: webview → extension, answered with a Reply of the same id ---------------------

export interface RequestMap {
  retryTask: { params: { taskId: string }; result: { newTaskId: string } };
  revokeTask: { params: { taskId: string; terminate?: boolean }; result: { sent: boolean } };
}
export type RequestMethod = keyof RequestMap;
export interface Request<M extends RequestMethod = RequestMethod> { method: M; id: number; params: RequestMap[M]['params'] }
export interface Reply<M extends RequestMethod = RequestMethod> {
  method: 'reply';
  id: number;
  ok: boolean;
  result?: RequestMap[M]['result'];
  error?: string;
}

// ---- notifications: extension → webview -----------------------------------------------------

export interface SnapshotNotification {
  method: 'snapshot';
  params: { state: ClusterSnapshot; paused: boolean; maxTasks: number; brokerUrl: string; connected: boolean; error?: string };
}
/** Events batched over ~100 ms, in arrival order. */
export interface EventsNotification { method: 'events'; params: { events: SprigEvent[]; links?: Array<[oldId: string, newId: string]> } }
export interface ConnectionNotification { method: 'connection'; params: { brokerUrl: string; connected: boolean; error?: string } }
/** Select a task (after "Show in Monitor"). */
export interface RevealNotification { method: 'reveal'; params: { taskId: string } }

export type ExtensionNotification = SnapshotNotification | EventsNotification | ConnectionNotification | RevealNotification | Reply;

// ---- guards ----------------------------------------------------------------------------------

function has<M extends string>(m: unknown, method: M): m is MessageType<M> & Record<string, unknown> {
  return !!m && typeof m === 'object' && (m as { method?: unknown }).method === method;
}
const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object';

export const isReady = (m: unknown): m is ReadyCommand => has(m, 'ready');
export const isOpenLocation = (m: unknown): m is OpenLocationCommand =>
  has(m, 'openLocation') && isObj(m.params) && typeof m.params.file === 'string' && typeof m.params.line === 'number' && typeof m.params.column === 'number';
export const isSetPaused = (m: unknown): m is SetPausedCommand => has(m, 'setPaused') && isObj(m.params) && typeof m.params.paused === 'boolean';
export const isClear = (m: unknown): m is ClearCommand => has(m, 'clear');

export function isRequest<M extends RequestMethod>(m: unknown, method: M): m is Request<M> {
  return has(m, method) && typeof m.id === 'number' && isObj(m.params) && typeof m.params.taskId === 'string';
}

export const isSnapshot = (m: unknown): m is SnapshotNotification => has(m, 'snapshot') && isObj(m.params) && isObj(m.params.state);
export const isEvents = (m: unknown): m is EventsNotification => has(m, 'events') && isObj(m.params) && Array.isArray(m.params.events);
export const isConnection = (m: unknown): m is ConnectionNotification => has(m, 'connection') && isObj(m.params) && typeof m.params.connected === 'boolean';
export const isReveal = (m: unknown): m is RevealNotification => has(m, 'reveal') && isObj(m.params) && typeof m.params.taskId === 'string';
export const isReply = (m: unknown): m is Reply => has(m, 'reply') && typeof m.id === 'number' && typeof m.ok === 'boolean';

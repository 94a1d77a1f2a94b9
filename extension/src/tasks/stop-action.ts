/**
 * Which stop a task offers in its state (the monitor's row buttons and the extension's commands
 * agree on it; no `vscode` import: the webview bundles this file too).
 */
import type { TaskStateName } from '../../../runtime/src/events/state.js';

/** Revoke before it starts, terminate while it runs, neither once it ended. */
export function stopActionFor(state: TaskStateName): 'revoke' | 'terminate' | undefined {
  if (state === 'PENDING' || state === 'RECEIVED' || state === 'RETRY') return 'revoke';
  if (state === 'STARTED') return 'terminate';
  return undefined;
}

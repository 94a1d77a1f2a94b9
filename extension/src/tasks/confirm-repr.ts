import * as vscode from 'vscode';

/** Asked before Retry uses the arguments read back from an event's Python repr. */
export async function confirmReprInEditor(why: string): Promise<boolean> {
  const detail = 'Events carry the arguments as a Python repr, cut at 1,024 characters; the original values may differ.';
  return (await vscode.window.showWarningMessage(why, { modal: true, detail }, 'Retry')) === 'Retry';
}

import * as vscode from 'vscode';
import { editText, parseEditedCall, type EditedCall } from './edit-args.js';

/** Asked before Retry uses the arguments read back from an event's Python repr. */
export async function confirmReprInEditor(why: string): Promise<boolean> {
  const detail = 'Events carry the arguments as a Python repr, cut at 1,024 characters; the original values may differ.';
  return (await vscode.window.showWarningMessage(why, { modal: true, detail }, 'Retry')) === 'Retry';
}

/** "Retry all FAILURE matching the filter": one modal with the count. */
export async function confirmRetryMany(n: number): Promise<boolean> {
  const detail = 'Each is enqueued again under a new id with the exact arguments of its run (stored with its result); one whose arguments are not stored is skipped.';
  return (await vscode.window.showWarningMessage(`Retry ${n} failed task${n === 1 ? '' : 's'}?`, { modal: true, detail }, `Retry ${n}`)) === `Retry ${n}`;
}

/** "Edit and run": the arguments as JSON in an input box, checked on every keystroke. */
export async function editCallInBox(name: string, start: EditedCall, exact: boolean): Promise<EditedCall | undefined> {
  const v = await vscode.window.showInputBox({
    title: `Edit and run ${name}`,
    prompt: exact ? 'The exact arguments of the run, as JSON: change them, then Enter enqueues' : 'Read back from the event\'s Python repr (no stored result holds the exact arguments): check them, then Enter enqueues',
    value: editText(start),
    validateInput: (x) => {
      const r = parseEditedCall(x);
      return typeof r === 'string' ? r : undefined;
    },
  });
  if (v === undefined) return undefined;
  const r = parseEditedCall(v);
  return typeof r === 'string' ? undefined : r;
}

/**
 * `.sprig/` (the embedded broker's token and log, build output) appears in the project folder the
 * first time a broker or worker runs there. In a git work tree that does not ignore it, the user
 * is offered to add it to the folder's .gitignore, once per folder and session ("Never": for good).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

const NEVER_KEY = 'sprig.gitignoreNever';
const asked = new Set<string>();

/** True/false: whether git ignores `dir/.sprig/`; undefined: not in a git work tree (or no git). */
export function sprigFolderIgnored(dir: string): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    // Exit 0: ignored, 1: not ignored, 128: not a work tree. Honours every ignore file git reads.
    execFile('git', ['check-ignore', '-q', '.sprig/'], { cwd: dir, windowsHide: true, timeout: 10_000 }, (err) => {
      if (!err) return resolve(true);
      // An exit code is in `code` (a number); a missing git is ENOENT there.
      resolve((err as { code?: unknown }).code === 1 ? false : undefined);
    });
  });
}

/** Add `.sprig/` to `dir/.gitignore` (made if missing). */
export function ignoreSprigFolder(dir: string): void {
  const file = path.join(dir, '.gitignore');
  const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const sep = before === '' || before.endsWith('\n') ? '' : '\n';
  fs.appendFileSync(file, `${sep}# Sprig: the embedded broker's token and log, build output\n.sprig/\n`);
}

export async function offerToIgnoreSprigFolder(dir: string, state: vscode.Memento): Promise<void> {
  if (asked.has(dir) || state.get<string[]>(NEVER_KEY, []).includes(dir)) return;
  asked.add(dir);
  if (!fs.existsSync(path.join(dir, '.sprig')) || (await sprigFolderIgnored(dir)) !== false) return;
  const pick = await vscode.window.showInformationMessage(
    `Sprig keeps the embedded broker's token and build output in .sprig/ in ${path.basename(dir)}, which git does not ignore. Add it to .gitignore?`,
    'Add to .gitignore',
    'Never',
  );
  if (pick === 'Add to .gitignore') ignoreSprigFolder(dir);
  else if (pick === 'Never') await state.update(NEVER_KEY, [...state.get<string[]>(NEVER_KEY, []), dir]);
}

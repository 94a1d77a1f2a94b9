/**
 * What ctx.replace() and ctx.addToChord() check inside the task (Celery's Task.replace and
 * Task.add_to_chord, celery/app/task.py): a bad call fails the task there, with Celery's reason.
 * The worker does the sending afterwards (worker/canvas.ts), so a task in a process or thread
 * pool child can call them too.
 */
import { toSigDict } from './canvas.js';
import { freeze, resultIdOf } from './canvas-apply.js';
import type { SignatureInput } from './task.js';
import type { SignatureDict } from '../protocol/signature.js';
import { ConfigError } from '../errors.js';

/** Python's ValueError (stored as builtins.ValueError, as Celery's add_to_chord raises it). */
function valueError(message: string): Error {
  const e = new Error(message);
  e.name = 'ValueError';
  return e;
}

function dictOf(sig: SignatureInput, what: string): SignatureDict {
  if (!sig || typeof sig !== 'object') throw new ConfigError(`${what}(sig): sig must be a signature (task.s(...), chain, group, chord) or Celery's dict of one`);
  return toSigDict(sig);
}

/** ctx.replace(sig): the signature to send in the task's place, checked as Celery checks it. */
export function checkReplacement(sig: SignatureInput): SignatureDict {
  const s = dictOf(sig, 'replace');
  if (s.options.chord !== undefined && s.options.chord !== null) throw new ConfigError('A signature replacing a task must not be part of a chord');
  if (s.subtask_type === 'chain' && !(s.kwargs.tasks as SignatureDict[]).length) throw new ConfigError('Cannot replace with an empty chain');
  return s;
}

/** ctx.addToChord(sig): the new part, placed in this task's chord and given its id now (Celery's freeze). */
export function checkAddToChord(
  sig: SignatureInput,
  req: { chord: SignatureDict | null; groupId: string | null; groupIndex: number | null; rootId: string | null },
): { sig: SignatureDict; id: string } {
  if (!req.chord || !req.groupId) throw valueError('Current task is not member of any chord');
  const s = dictOf(sig, 'addToChord');
  const node = freeze(s, { group_id: req.groupId, group_index: req.groupIndex, chord: structuredClone(req.chord), root_id: req.rootId });
  const id = 'id' in node ? node.id : (resultIdOf(s) ?? node.groupId);
  return { sig: s, id };
}

/**
 * Celery's built-in tasks that a Sprig worker must run for Celery's canvas to work on it
 * (celery/app/builtins.py): found by getTask() after the user's tasks, never listed as theirs.
 */
import { builtinTask } from './app.js';
import { builtinTasks } from './registry.js';
import type { TaskContext } from './task.js';

/**
 * `celery.accumulate`: Task.replace gives a group this chord body, so the group's list is the
 * replaced task's result. Its args are returned, or the one at `index`.
 */
function accumulate(ctx: TaskContext): unknown {
  const index = ctx.kwargs.index;
  if (index === undefined || index === null) return ctx.args;
  if (typeof index !== 'number' || !Number.isInteger(index)) throw Object.assign(new Error(`celery.accumulate: index must be an integer, got ${JSON.stringify(index)}`), { name: 'TypeError' });
  const i = index < 0 ? ctx.args.length + index : index;
  if (i < 0 || i >= ctx.args.length) throw Object.assign(new Error('tuple index out of range'), { name: 'IndexError' });
  return ctx.args[i];
}

const builtins = builtinTasks();
if (!builtins.has('celery.accumulate')) builtins.set('celery.accumulate', builtinTask('celery.accumulate', accumulate, { bind: true }));

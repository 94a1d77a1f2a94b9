import { AsyncLocalStorage } from 'node:async_hooks';
import type { TaskContext } from './task.js';

const KEY = Symbol.for('sprig.taskContextStorage');
const g = globalThis as unknown as Record<symbol, AsyncLocalStorage<TaskContext> | undefined>;
/** Shared across runtime copies, like the registry. */
export const contextStorage: AsyncLocalStorage<TaskContext> = (g[KEY] ??= new AsyncLocalStorage<TaskContext>());

/** The context of the task running now (in a worker), or undefined. */
export function currentTask(): TaskContext | undefined {
  return contextStorage.getStore();
}

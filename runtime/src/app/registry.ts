import type { Task } from './task.js';

/**
 * The task registry is process-wide and lives on globalThis, so a tasks file that imports 'sprig'
 * registers into the same registry as the worker running it, whichever copy of the runtime it got.
 */
const KEY = Symbol.for('sprig.taskRegistry');
type Registry = Map<string, Task>;

export function taskRegistry(): Registry {
  const g = globalThis as unknown as Record<symbol, Registry | undefined>;
  return (g[KEY] ??= new Map());
}

export function registerTask(t: Task): void {
  taskRegistry().set(t.name, t);
}

export function getTask(name: string): Task | undefined {
  return taskRegistry().get(name);
}

export function registeredTaskNames(): string[] {
  return [...taskRegistry().keys()].sort();
}

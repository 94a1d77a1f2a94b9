import type { Task } from './task.js';
import { isRuntimeFrame } from './traceback.js';

/**
 * The task registry is process-wide and lives on globalThis, so a tasks file that imports 'sprig'
 * registers into the same registry as the worker running it, whichever copy of the runtime it got.
 */
const KEY = Symbol.for('sprig.taskRegistry');
const SITES_KEY = Symbol.for('sprig.taskSites');
const DUPLICATES_KEY = Symbol.for('sprig.taskDuplicates');
type Registry = Map<string, Task>;

/** A task name defined twice: where each definition is (file:line:column), the later one is used. */
export interface DuplicateTask {
  name: string;
  first: string;
  second: string;
}

function shared<T>(key: symbol, make: () => T): T {
  const g = globalThis as unknown as Record<symbol, T | undefined>;
  return (g[key] ??= make());
}

/** This copy's handles on the shared maps (never replaced, only emptied): a keyed read of globalThis per task lookup was measurable. */
let registry: Registry | undefined;
let builtins: Map<string, Task> | undefined;

export function taskRegistry(): Registry {
  return (registry ??= shared(KEY, () => new Map()));
}

/** name → where `task(name, ...)` was called (file:line:column, source-mapped). */
function taskSites(): Map<string, string> {
  return shared(SITES_KEY, () => new Map());
}

function duplicates(): DuplicateTask[] {
  return shared(DUPLICATES_KEY, () => []);
}

export function registerTask(t: Task, site = callerSite()): void {
  const registry = taskRegistry();
  const sites = taskSites();
  const prev = registry.get(t.name);
  const prevSite = sites.get(t.name);
  // The same definition run again (an autoreload empties the registry first) is not a duplicate.
  if (prev && prev !== t && prevSite !== site) duplicates().push({ name: t.name, first: prevSite ?? '(unknown)', second: site ?? '(unknown)' });
  registry.set(t.name, t);
  if (site) sites.set(t.name, site);
}

export function getTask(name: string): Task | undefined {
  return taskRegistry().get(name) ?? builtinTasks().get(name);
}

const BUILTINS_KEY = Symbol.for('sprig.builtinTasks');

/** Celery's built-in tasks a Sprig worker runs too (app/builtins.ts): not the user's, never listed or cleared. */
export function builtinTasks(): Map<string, Task> {
  return (builtins ??= shared(BUILTINS_KEY, () => new Map()));
}

export function registeredTaskNames(): string[] {
  return [...taskRegistry().keys()].sort();
}

/** Names defined more than once since the process started (the worker warns about them at start and after an autoreload). */
export function duplicateTasks(): readonly DuplicateTask[] {
  return duplicates();
}

/** The worker's warning for a name defined twice. */
export function duplicateTaskWarning(d: DuplicateTask): string {
  return `task ${JSON.stringify(d.name)} is defined twice: at ${d.first} and at ${d.second}; the second definition is the one that runs`;
}

/** `file:line:column` of the first frame outside the runtime: where the user called task(). */
function callerSite(): string | undefined {
  const stack = new Error().stack ?? '';
  for (const line of stack.split('\n').slice(1)) {
    if (isRuntimeFrame(line)) continue;
    const m = /\(?((?:file:\/\/)?[^()\s]+:\d+:\d+)\)?\s*$/.exec(line.trim());
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Periodic task declarations (`sprig beat`, docs/beat.md): in the tasks file as
 * `export const schedule = defineSchedule({...})`, or in sprig.config.ts under `beat.schedule`.
 * These are the types and the typed helper; beat/ parses and validates them and runs them.
 */
import type { ApplyOptions } from './app.js';

/** What happens to runs that fell due while no scheduler ran (or during a takeover). */
export type CatchUpPolicy = 'latest' | 'all' | 'skip';

/** Seconds (a number), or a string with a unit: '500ms', '5s', '2m', '1h', '1d'. */
export type Duration = number | string;

/** Celery's `crontab(minute=..., hour=..., day_of_week=..., day_of_month=..., month_of_year=...)`; each defaults to '*'. */
export interface CrontabFields {
  minute?: string | number;
  hour?: string | number;
  /** 0-7 (0 and 7: Sunday) or names: 'mon-fri', 'sun,sat'. */
  dayOfWeek?: string | number;
  dayOfMonth?: string | number;
  monthOfYear?: string | number;
}

/** Per-run send options (Celery's entry `options`); `expires` in seconds counts from the send. */
export type ScheduleOptions = Pick<
  ApplyOptions,
  'queue' | 'priority' | 'expires' | 'countdown' | 'timeLimit' | 'softTimeLimit' | 'ignoreResult' | 'serializer' | 'compression' | 'headers'
>;

/**
 * What an entry needs of a Task: its name, and its parameters to check `args` against (read from
 * `delay`, since Task as a whole is invariant in its types: its signatures pass them on).
 */
export interface ScheduledTask<A extends unknown[]> {
  readonly name: string;
  delay(...args: A): unknown;
}

interface EntryCommon<A extends unknown[]> {
  /** A task defined with task() (its args are then type-checked), or any task name (Python's too). */
  task: string | ScheduledTask<A>;
  args?: NoInfer<A>;
  kwargs?: Record<string, unknown>;
  options?: ScheduleOptions;
  /** Overrides `beat.catchUp` for this entry. */
  catchUp?: CatchUpPolicy;
  /** false: kept in the file, not run. */
  enabled?: boolean;
}

export type ScheduleEntry<A extends unknown[] = unknown[]> = EntryCommon<A> &
  (
    | { every: Duration; crontab?: never; at?: never; timezone?: never }
    | { crontab: string | CrontabFields; timezone?: string; every?: never; at?: never }
    | { at: Date | string | number; every?: never; crontab?: never; timezone?: never }
  );

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each entry has its own argument types
export type ScheduleDefinition = Record<string, ScheduleEntry<any>>;

/**
 * Typed helper: `export const schedule = defineSchedule({ 'add-every-5s': { task: add, every: '5s', args: [2, 3] } })`.
 * With a Task object, `args` is checked against the task's parameters.
 */
export function defineSchedule<T extends Record<string, unknown[]>>(entries: { [K in keyof T]: ScheduleEntry<T[K]> }): ScheduleDefinition {
  return entries;
}

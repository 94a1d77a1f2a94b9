/**
 * Schedule arithmetic and entry validation. A Schedule answers two questions about due times (ms
 * since the epoch): the first one after a time, and the latest one in an interval. `every` counts
 * from the entry's last due time (Celery's `schedule(run_every)`), `crontab` is wall-clock time in
 * a timezone (cron-parser; across DST a nonexistent time runs at the first minute after the jump and
 * a repeated one runs once), `at` is one-off.
 */
import * as fs from 'node:fs';
import type { CronExpressionParser } from 'cron-parser';
import { ConfigError } from '../errors.js';
import type { CatchUpPolicy, CrontabFields, ScheduleEntry, ScheduleOptions } from '../app/schedule.js';

export interface Schedule {
  readonly kind: 'every' | 'crontab' | 'at';
  /** Human text: 'every 5s', "crontab '0 3 * * *' Europe/Paris", 'once at 2026-12-24T18:00:00.000Z'. */
  readonly text: string;
  /** The first due time strictly after `t` (for `every`: `t` is the last due time), or undefined: never again. */
  next(t: number): number | undefined;
  /** The latest due time in (`after`, `upTo`], or undefined. */
  latest(after: number, upTo: number): number | undefined;
}

/** An entry, checked and ready to run. */
export interface BeatEntry {
  name: string;
  task: string;
  schedule: Schedule;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: ScheduleOptions;
  catchUp?: CatchUpPolicy;
  enabled: boolean;
  /** Where it is defined (file:line when found). */
  source: string;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MIN_EVERY_MS = 100;

/** A Duration in ms; throws with what would be right. */
export function parseDuration(v: unknown, what: string): number {
  let ms: number | undefined;
  if (typeof v === 'number' && Number.isFinite(v)) ms = Math.round(v * 1000);
  else if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(v);
    if (m) ms = Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!);
  }
  if (ms === undefined) throw new ConfigError(`${what} must be seconds (a number) or a string like '500ms', '5s', '2m', '1h', '1d'; got ${JSON.stringify(v)}`);
  if (ms < MIN_EVERY_MS) throw new ConfigError(`${what} must be at least ${MIN_EVERY_MS} ms, got ${JSON.stringify(v)}`);
  return ms;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export function everySchedule(ms: number): Schedule {
  return {
    kind: 'every',
    text: `every ${formatDuration(ms)}`,
    next: (t) => t + ms,
    latest: (after, upTo) => (upTo - after >= ms ? after + Math.floor((upTo - after) / ms) * ms : undefined),
  };
}

export function checkTimezone(tz: unknown, what: string): string {
  if (typeof tz !== 'string' || !tz) throw new ConfigError(`${what} must be an IANA timezone name like 'Europe/Paris' or 'UTC', got ${JSON.stringify(tz)}`);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new ConfigError(`${what}: unknown timezone ${JSON.stringify(tz)}; use an IANA name like 'Europe/Paris' or 'UTC'`);
  }
  return tz;
}

const FIELD_ORDER: ReadonlyArray<keyof CrontabFields> = ['minute', 'hour', 'dayOfMonth', 'monthOfYear', 'dayOfWeek'];

/** A crontab as its 5-field expression (minute hour day-of-month month day-of-week). */
export function crontabExpression(spec: string | CrontabFields, what: string): string {
  if (typeof spec === 'string') {
    const fields = spec.trim().split(/\s+/);
    if (fields.length !== 5) throw new ConfigError(`${what} must have 5 fields (minute hour day-of-month month day-of-week), e.g. '*/15 * * * *'; got ${JSON.stringify(spec)}`);
    return fields.join(' ');
  }
  if (!spec || typeof spec !== 'object') throw new ConfigError(`${what} must be a 5-field string like '0 3 * * *' or { minute, hour, dayOfWeek, dayOfMonth, monthOfYear }`);
  for (const k of Object.keys(spec)) {
    if (!FIELD_ORDER.includes(k as keyof CrontabFields)) throw new ConfigError(`${what} has an unknown field ${JSON.stringify(k)}; the fields are ${FIELD_ORDER.join(', ')}`);
  }
  return FIELD_ORDER.map((k) => {
    const v = spec[k] ?? '*';
    const s = String(v).replace(/\s+/g, '');
    if ((typeof v !== 'string' && typeof v !== 'number') || !s) throw new ConfigError(`${what}.${k} must be a string or number like '*/5' or 3, got ${JSON.stringify(v)}`);
    return s;
  }).join(' ');
}

export function crontabSchedule(expr: string, tz: string, what: string): Schedule {
  // cron-parser (and luxon under it) load on first use: ~300 ms of every CLI command's start-up otherwise.
  const parser = (require('cron-parser') as { CronExpressionParser: typeof CronExpressionParser }).CronExpressionParser;
  const parse = (currentDate: number) => parser.parse(expr, { currentDate: new Date(currentDate), tz, strict: false });
  try {
    parse(Date.now()).next();
  } catch (err) {
    throw new ConfigError(`${what}: ${JSON.stringify(expr)} is not a valid crontab: ${(err as Error).message}`);
  }
  return {
    kind: 'crontab',
    text: `crontab '${expr}' ${tz}`,
    next: (t) => parse(t).next().getTime(),
    latest: (after, upTo) => {
      // prev() is strictly before its start: start 1 ms later so a due time equal to upTo counts.
      const p = parse(upTo + 1).prev().getTime();
      return p > after ? p : undefined;
    },
  };
}

export function atSchedule(at: number): Schedule {
  return {
    kind: 'at',
    text: `once at ${new Date(at).toISOString()}`,
    next: (t) => (at > t ? at : undefined),
    latest: (after, upTo) => (at > after && at <= upTo ? at : undefined),
  };
}

function parseAt(v: unknown, what: string): number {
  const t = v instanceof Date ? v.getTime() : typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(t)) throw new ConfigError(`${what} must be a Date, ms since the epoch or an ISO 8601 time like '2026-12-24T18:00:00Z'; got ${JSON.stringify(v)}`);
  return t;
}

const POLICIES: readonly CatchUpPolicy[] = ['latest', 'all', 'skip'];

export function checkPolicy(v: unknown, what: string): CatchUpPolicy {
  if (!POLICIES.includes(v as CatchUpPolicy)) throw new ConfigError(`${what} must be one of ${POLICIES.join(', ')}, got ${JSON.stringify(v)}`);
  return v as CatchUpPolicy;
}

const ENTRY_KEYS = new Set(['task', 'args', 'kwargs', 'options', 'catchUp', 'enabled', 'every', 'crontab', 'at', 'timezone']);

/** The task name of `task:` (a Task object or a name). */
function taskName(v: unknown, what: string): string {
  const name = typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { name?: unknown }).name === 'string' ? (v as { name: string }).name : undefined;
  if (!name) throw new ConfigError(`${what}.task must be a task (from task()) or a task name, got ${JSON.stringify(v)}`);
  return name;
}

/** Check one entry; `where` (file, or file:line) starts every error message. */
export function parseEntry(name: string, raw: unknown, where: string, defaults: { timezone: string }): BeatEntry {
  const what = `${where}: schedule entry ${JSON.stringify(name)}`;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${what} must be an object like { task: add, every: '5s' }`);
  const e = raw as ScheduleEntry & Record<string, unknown>;
  for (const k of Object.keys(e)) {
    if (!ENTRY_KEYS.has(k)) throw new ConfigError(`${what} has an unknown key ${JSON.stringify(k)}; the keys are ${[...ENTRY_KEYS].join(', ')}`);
  }
  const kinds = (['every', 'crontab', 'at'] as const).filter((k) => e[k] !== undefined);
  if (kinds.length !== 1) throw new ConfigError(`${what} needs exactly one of every, crontab or at${kinds.length ? `, not ${kinds.join(' and ')}` : ''}`);
  if (e.timezone !== undefined && kinds[0] !== 'crontab') throw new ConfigError(`${what}: timezone applies to crontab entries only`);
  let schedule: Schedule;
  if (kinds[0] === 'every') schedule = everySchedule(parseDuration(e.every, `${what}.every`));
  else if (kinds[0] === 'crontab') {
    const tz = checkTimezone(e.timezone ?? defaults.timezone, `${what}.timezone`);
    schedule = crontabSchedule(crontabExpression(e.crontab!, `${what}.crontab`), tz, `${what}.crontab`);
  } else schedule = atSchedule(parseAt(e.at, `${what}.at`));
  if (e.args !== undefined && !Array.isArray(e.args)) throw new ConfigError(`${what}.args must be an array, e.g. [2, 3]`);
  const isObject = (v: unknown) => v === undefined || (!!v && typeof v === 'object' && !Array.isArray(v));
  if (!isObject(e.kwargs)) throw new ConfigError(`${what}.kwargs must be an object, e.g. { y: 40 }`);
  if (!isObject(e.options)) throw new ConfigError(`${what}.options must be an object, e.g. { queue: 'reports', expires: 60 }`);
  if (e.enabled !== undefined && typeof e.enabled !== 'boolean') throw new ConfigError(`${what}.enabled must be true or false`);
  return {
    name,
    task: taskName(e.task, what),
    schedule,
    args: [...(e.args ?? [])],
    kwargs: { ...(e.kwargs ?? {}) },
    options: { ...(e.options ?? {}) },
    catchUp: e.catchUp === undefined ? undefined : checkPolicy(e.catchUp, `${what}.catchUp`),
    enabled: e.enabled ?? true,
    source: where,
  };
}

/** `file:line` of the entry's key in the source, or `file` when it is not found by its text. */
export function entryLocation(file: string | undefined, name: string): string {
  if (!file) return '(programmatic config)';
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return file;
  }
  const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`(^|[\\s{,])(['"\`]?)${esc}\\2\\s*:`);
  const lines = text.split('\n');
  const i = lines.findIndex((l) => re.test(l));
  return i >= 0 ? `${file}:${i + 1}` : file;
}

/** Check a whole `schedule` definition from one file. */
export function parseSchedule(def: unknown, file: string | undefined, defaults: { timezone: string }): BeatEntry[] {
  if (def === undefined) return [];
  const where = file ?? '(programmatic config)';
  if (!def || typeof def !== 'object' || Array.isArray(def)) {
    throw new ConfigError(`${where}: the schedule must be an object of named entries, e.g. defineSchedule({ 'add-every-5s': { task: add, every: '5s' } })`);
  }
  return Object.entries(def).map(([name, raw]) => {
    if (!/^[^\s]{1,200}$/.test(name)) throw new ConfigError(`${where}: schedule entry names must be 1-200 characters without spaces, got ${JSON.stringify(name)}`);
    return parseEntry(name, raw, entryLocation(file, name), defaults);
  });
}

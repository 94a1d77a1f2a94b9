/**
 * Where the schedule comes from: the tasks file's `schedule` export and `beat.schedule` of the
 * config (sprig.config.ts, or the config passed in code). Loading builds the files the way a worker
 * does (esbuild, loader.ts); a reload after an edit that does not build, load or validate throws,
 * and the scheduler keeps the schedule it had.
 */
import * as path from 'node:path';
import { ConfigError } from '../errors.js';
import { findConfigFile, resolveConfig, type SprigConfig } from '../app/config.js';
import { loadModule } from '../app/loader.js';
import { findProjectDir } from '../util/paths.js';
import { checkTimezone, parseSchedule, type BeatEntry } from './schedules.js';

export interface LoadedSchedule {
  config: SprigConfig;
  entries: Map<string, BeatEntry>;
  /** Files to watch for changes: the tasks file and what it imports, the config file. */
  files: string[];
}

export interface ScheduleSourceOptions {
  /** The tasks file (.ts or .js), if any. */
  app?: string;
  /** Settings given in code or by CLI flags (they win over the config file, as everywhere). */
  config?: SprigConfig;
  /** The tasks file's exports, already loaded (`sprig worker --beat` shares the worker's). */
  exports?: Record<string, unknown>;
}

export async function loadSchedule(opts: ScheduleSourceOptions, first = true): Promise<LoadedSchedule> {
  // The same project (and so the same embedded broker) as `sprig worker` run from here.
  const config = await resolveConfig(opts.config ?? {});
  const timezone = checkTimezone(config.beat?.timezone ?? 'UTC', 'beat.timezone');
  const files: string[] = [];
  const entries = new Map<string, BeatEntry>();
  const add = (list: BeatEntry[]) => {
    for (const e of list) {
      const prev = entries.get(e.name);
      if (prev) throw new ConfigError(`schedule entry ${JSON.stringify(e.name)} is defined twice: at ${prev.source} and at ${e.source}; rename one`);
      entries.set(e.name, e);
    }
  };
  if (opts.app) {
    const file = path.resolve(opts.app);
    let exports = first ? opts.exports : undefined;
    if (exports) files.push(file);
    else {
      const mod = await loadModule(file);
      exports = mod.exports;
      files.push(...mod.inputs);
    }
    add(parseSchedule(exports.schedule, file, { timezone }));
  }
  const configFile = findConfigFile(config.projectDir ?? findProjectDir());
  if (configFile) files.push(configFile);
  // beat.schedule given in code is not in the file: then the file name would point at the wrong place.
  const inCode = opts.config?.beat?.schedule !== undefined;
  add(parseSchedule(config.beat?.schedule, inCode ? undefined : configFile, { timezone }));
  return { config, entries, files: [...new Set(files)] };
}

/**
 * The Schedules view's request: the scheduler's entries with their next and last run, read by
 * running `sprig beat --list --json` (the runtime's own CLI, bundled with the extension) for each
 * tasks file this window knows (the `sprig.tasksFile` setting, the workers it runs), against the
 * monitor's broker (where beat keeps its last runs). No file: sprig.config's `beat.schedule` only.
 */
import { execFile } from 'node:child_process';
import type { BeatListEntry } from '../../../runtime/src/beat/list-entry.js';
import { cliPath, nodeChildEnv } from '../runtime.js';
import type { BrokerTarget } from '../broker/broker-target.js';
import type { RequestMap, ScheduleEntry } from './protocol.js';

const LIST_TIMEOUT_MS = 60_000;

const isStr = (v: unknown): v is string => typeof v === 'string';
const isStrOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** `sprig beat --list --json`'s output, checked entry by entry (a malformed one is an error, not a row). */
export function parseBeatList(stdout: string): BeatListEntry[] {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`sprig beat --list --json printed no JSON: ${line.slice(0, 200) || '(nothing)'}`);
  }
  if (!Array.isArray(v)) throw new Error('sprig beat --list --json printed no array');
  return v.map((e, i) => {
    if (!isObj(e) || !isStr(e.name) || !isStr(e.task) || !isStr(e.schedule) || !isStrOrNull(e.nextRunAt) || !isStrOrNull(e.lastRunAt)) {
      throw new Error(`sprig beat --list --json: entry ${i} is not {name, task, schedule, nextRunAt, lastRunAt}`);
    }
    return {
      name: e.name,
      task: e.task,
      schedule: e.schedule,
      nextRunAt: e.nextRunAt,
      lastRunAt: e.lastRunAt,
      args: Array.isArray(e.args) ? e.args : [],
      kwargs: isObj(e.kwargs) ? e.kwargs : {},
      options: isObj(e.options) ? e.options : {},
    };
  });
}

function beatList(target: BrokerTarget, file: string | null): Promise<BeatListEntry[]> {
  const args = [cliPath(), 'beat', '--list', '--json', ...(file ? ['--app', file] : [])];
  // The URL by env, not argv (it may carry a password; argv is visible to every local user).
  const env = nodeChildEnv({ SPRIG_BROKER_URL: target.url, SPRIG_PROJECT_DIR: target.projectDir, SPRIG_LOG_LEVEL: 'error' });
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: target.projectDir, env, timeout: LIST_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, windowsHide: true }, (err, stdout, stderr) => {
      if (err) {
        const why = String(stderr).trim().split('\n').filter(Boolean).at(-1) ?? err.message;
        reject(new Error(`${file ?? 'sprig.config'}: ${why}`));
        return;
      }
      try {
        resolve(parseBeatList(String(stdout)));
      } catch (e) {
        reject(new Error(`${file ?? 'sprig.config'}: ${(e as Error).message}`));
      }
    });
  });
}

/** Every tasks file's entries (sprig.config's are in each: listed once); a file that fails is an error beside the others' rows. */
export async function listSchedules(target: BrokerTarget, files: readonly string[]): Promise<RequestMap['listSchedules']['result']> {
  if (!target.configFile) throw new Error('this workspace is not trusted: listing its schedules would run its tasks file (Manage Workspace Trust)');
  const sources: Array<string | null> = files.length ? [...new Set(files)] : [null];
  const entries: ScheduleEntry[] = [];
  const errors: string[] = [];
  const seen = new Set<string>();
  const lists = await Promise.allSettled(sources.map((f) => beatList(target, f)));
  lists.forEach((r, i) => {
    if (r.status === 'rejected') return void errors.push((r.reason as Error).message);
    for (const e of r.value) {
      if (seen.has(e.name)) continue;
      seen.add(e.name);
      entries.push({ ...e, file: sources[i]! });
    }
  });
  return { entries, errors };
}

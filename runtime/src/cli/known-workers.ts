/**
 * The workers a broker had last time, remembered between `sprig` runs, so a read-only broadcast
 * (inspect ping, the check after `sprig call`) ends as soon as they have all answered instead of
 * always waiting out its window (1 s, like Celery). The window is the same, only shorter when
 * nothing is left to wait for: a worker that did not answer keeps it full, and whoever answered
 * in a full window is what is remembered next. A worker that is new since the last run and slower
 * than the known ones can be missed by one run; `--timeout` (any value) always waits it out.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { App } from '../app/app.js';
import { findProjectDir } from '../util/paths.js';
import type { BroadcastOptions, Replies } from '../control/client.js';

/** Hosts per broker (its display URL), at most this many brokers. */
const MAX_BROKERS = 50;

/**
 * `sprig/known-workers.json` in the user's cache folder: `$XDG_CACHE_HOME` if set, else the
 * platform's own (`%LOCALAPPDATA%` on Windows, `~/Library/Caches` on macOS, `~/.cache` elsewhere).
 * SPRIG_KNOWN_WORKERS=0 turns it off.
 */
export function knownWorkersFile(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string | null {
  if (env.SPRIG_KNOWN_WORKERS === '0') return null;
  const base =
    env.XDG_CACHE_HOME ||
    (platform === 'win32' && env.LOCALAPPDATA) ||
    (platform === 'darwin' ? path.join(os.homedir(), 'Library', 'Caches') : path.join(os.homedir(), '.cache'));
  return path.join(base, 'sprig', 'known-workers.json');
}

type Store = Record<string, { hosts: string[]; at: number }>;

function read(file: string): Store {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Store) : {};
  } catch {
    return {};
  }
}

export function knownWorkers(broker: string, file: string | null = knownWorkersFile()): string[] {
  if (!file) return [];
  const hosts = read(file)[broker]?.hosts;
  return Array.isArray(hosts) ? hosts.filter((h): h is string => typeof h === 'string') : [];
}

export function rememberWorkers(broker: string, hosts: readonly string[], file: string | null = knownWorkersFile()): void {
  if (!file) return;
  try {
    const store = read(file);
    store[broker] = { hosts: [...new Set(hosts)].sort(), at: Date.now() };
    const kept = Object.entries(store)
      .filter(([, v]) => v && Array.isArray(v.hosts))
      .sort((a, b) => b[1].at - a[1].at)
      .slice(0, MAX_BROKERS);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Written whole, then renamed: two runs at once never leave half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(kept)));
    fs.renameSync(tmp, file);
  } catch {
    /* a cache only */
  }
}

function hostsOf(replies: Replies): Set<string> {
  return new Set(replies.flatMap((r) => Object.keys(r)));
}

/**
 * A read-only broadcast (inspect methods) that ends when every known worker of the broker (within
 * `destination`, if given) has answered; `exact` (an explicit --timeout): the whole window, as asked.
 */
/** `file` null: nothing remembered (SPRIG_KNOWN_WORKERS=0). */
export async function broadcastToKnown(app: App, method: string, opts: BroadcastOptions & { exact?: boolean }, file: string | null = knownWorkersFile()): Promise<Replies> {
  const b = await app.broker();
  // Every project's embedded broker is `sprig://`: its folder tells them apart.
  const broker = b.kind === 'embedded' ? `${b.displayUrl} ${findProjectDir()}` : b.displayUrl;
  const window = opts.timeout ?? 1;
  const known = opts.exact ? [] : knownWorkers(broker, file).filter((h) => !opts.destination?.length || opts.destination.includes(h));
  if (!known.length) {
    const replies = await app.control.broadcast(method, { ...opts, timeout: window });
    if (!opts.destination?.length) rememberWorkers(broker, [...hostsOf(replies)], file);
    return replies;
  }
  const t0 = Date.now();
  const replies = await app.control.broadcast(method, { ...opts, timeout: window, limit: known.length });
  let got = hostsOf(replies);
  let full = Date.now() - t0 >= window * 1000 - 20;
  // As many answers as known workers, but from a new one: ask the known ones still missing, in what is left of the window.
  const missing = known.filter((h) => !got.has(h));
  const left = window - (Date.now() - t0) / 1000;
  if (!full && missing.length && left > 0.05) {
    const more = await app.control.broadcast(method, { ...opts, destination: missing, timeout: left, limit: missing.length });
    replies.push(...more);
    got = hostsOf(replies);
    full = missing.some((h) => !got.has(h));
  }
  // A full window tells who is there now; an early end, that the known ones still are (plus any new).
  if (!opts.destination?.length) rememberWorkers(broker, full ? [...got] : [...new Set([...known, ...got])], file);
  return replies;
}

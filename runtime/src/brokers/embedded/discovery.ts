/**
 * Finding (and starting) the embedded broker of a project: `<projectDir>/.sprig/broker.json` holds
 * its port and token; a lock file makes sure that clients starting at the same time start ONE broker.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { ConnectionError } from '../../errors.js';
import { cliPath, fromSource, packageRoot } from '../../util/paths.js';
import { sleep } from '../../util/resilience.js';
import { HEALTH_PATH } from './protocol.js';

export interface BrokerInfo {
  port: number;
  pid: number;
  token: string;
  startedAt: string;
  version: 1;
}

export interface BrokerEndpoint {
  host: string;
  port: number;
  token: string;
}

export interface EnsureBrokerOptions {
  projectDir: string;
  /** Start a broker when none answers (default true). */
  autostart?: boolean;
  /** How long to wait for an autostarted broker to answer (default 10 s). */
  timeoutMs?: number;
}

const STALE_LOCK_MS = 10_000;
const POLL_MS = 100;

export function sprigDir(projectDir: string): string {
  return path.join(projectDir, '.sprig');
}

export function brokerInfoPath(projectDir: string): string {
  return path.join(sprigDir(projectDir), 'broker.json');
}

export function brokerLogPath(projectDir: string): string {
  return path.join(sprigDir(projectDir), 'broker.log');
}

function lockPath(projectDir: string): string {
  return path.join(sprigDir(projectDir), 'broker.lock');
}

export function readBrokerInfo(projectDir: string): BrokerInfo | null {
  try {
    const v = JSON.parse(fs.readFileSync(brokerInfoPath(projectDir), 'utf8')) as Partial<BrokerInfo>;
    if (typeof v.port !== 'number' || typeof v.token !== 'string' || typeof v.pid !== 'number') return null;
    return { port: v.port, pid: v.pid, token: v.token, startedAt: String(v.startedAt ?? ''), version: 1 };
  } catch {
    return null;
  }
}

/**
 * Written 0600 to a temp file and renamed, so a reader never sees a half-written token or a wider
 * mode. POSIX only: Windows ignores the mode, and the file is as readable as the project folder's
 * ACL makes it (private under the user's profile; not in a folder other users can read). See
 * docs/platforms.md.
 */
export function writeBrokerInfo(projectDir: string, info: BrokerInfo): void {
  const dir = sprigDir(projectDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.broker.json.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(info, null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  renameOver(tmp, brokerInfoPath(projectDir));
}

/**
 * On Windows a rename over a file that another process has open at that moment (a client reading
 * broker.json, an indexer, an antivirus) fails for a moment with EPERM/EACCES/EBUSY: retry briefly,
 * as graceful-fs does. Elsewhere such an error is real and thrown at once.
 */
function renameOver(from: string, to: string): void {
  for (let attempt = 1; ; attempt++) {
    try {
      return fs.renameSync(from, to);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (process.platform !== 'win32' || attempt >= 20 || !(code === 'EPERM' || code === 'EACCES' || code === 'EBUSY')) {
        fs.rmSync(from, { force: true });
        throw err;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
}

/** Remove broker.json only if it is still ours (a newer broker may have replaced it). */
export function removeBrokerInfo(projectDir: string, token: string): void {
  if (readBrokerInfo(projectDir)?.token === token) fs.rmSync(brokerInfoPath(projectDir), { force: true });
}

export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when a broker answers the health probe on `port` with this token. */
export function probeBroker(port: number, token: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: HEALTH_PATH, headers: { authorization: `Bearer ${token}` }, timeout: timeoutMs },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** The broker described by broker.json, if its process lives and it answers. */
export async function findRunningBroker(projectDir: string): Promise<BrokerEndpoint | null> {
  const info = readBrokerInfo(projectDir);
  if (!info || !isPidAlive(info.pid)) return null;
  if (!(await probeBroker(info.port, info.token))) return null;
  return { host: '127.0.0.1', port: info.port, token: info.token };
}

/**
 * The project's embedded broker: the running one, else (autostart) a new detached `sprig broker --auto`.
 * Concurrent callers (several processes) end up with one broker: only the holder of
 * `.sprig/broker.lock` spawns; the others wait for broker.json to answer.
 */
export async function ensureEmbeddedBroker(opts: EnsureBrokerOptions): Promise<BrokerEndpoint> {
  const projectDir = path.resolve(opts.projectDir);
  const running = await findRunningBroker(projectDir);
  if (running) return running;
  if (opts.autostart === false) {
    throw new ConnectionError(
      `no embedded broker running in ${projectDir}; start one with \`sprig broker\` or run a command that starts it ` +
        `(e.g. \`sprig worker\`), or set a broker URL`,
    );
  }
  fs.mkdirSync(sprigDir(projectDir), { recursive: true, mode: 0o700 });
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  const log = brokerLogPath(projectDir);
  while (Date.now() < deadline) {
    const found = await findRunningBroker(projectDir);
    if (found) return found;
    if (!tryLock(projectDir)) {
      await sleep(POLL_MS);
      continue;
    }
    try {
      // Checked again under the lock: the previous holder may have just finished starting one.
      const again = await findRunningBroker(projectDir);
      if (again) return again;
      const child = spawnBroker(projectDir, log);
      while (Date.now() < deadline) {
        const up = await findRunningBroker(projectDir);
        if (up) return up;
        if (child.exitCode !== null) {
          throw new ConnectionError(
            `the embedded broker exited with code ${child.exitCode} while starting; see ${log}${tail(log)}`,
          );
        }
        await sleep(POLL_MS);
      }
    } finally {
      fs.rmSync(lockPath(projectDir), { force: true });
    }
  }
  throw new ConnectionError(`the embedded broker did not answer within ${timeoutMs / 1000}s; see ${log}${tail(log)}`);
}

function tryLock(projectDir: string): boolean {
  const file = lockPath(projectDir);
  try {
    fs.writeFileSync(file, `${process.pid} ${Date.now()}`, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  try {
    const [pidText] = fs.readFileSync(file, 'utf8').split(' ');
    const age = Date.now() - fs.statSync(file).mtimeMs;
    if (age > STALE_LOCK_MS || !isPidAlive(Number(pidText))) fs.rmSync(file, { force: true });
  } catch {
    /* the holder removed it meanwhile */
  }
  return false;
}

function spawnBroker(projectDir: string, logFile: string): ReturnType<typeof spawn> {
  // From sources (tests under tsx) there is no bundle to run; the entry runs through tsx instead.
  const args = fromSource
    ? ['--import', 'tsx', path.join(packageRoot(), 'src/brokers/embedded/server-main.ts'), '--dir', projectDir, '--auto']
    : [cliPath(), 'broker', '--dir', projectDir, '--auto'];
  const out = fs.openSync(logFile, 'a', 0o600);
  try {
    const child = spawn(process.execPath, args, {
      cwd: fromSource ? packageRoot() : projectDir,
      detached: true,
      // Inside an editor's extension host process.execPath is Electron: make it behave as Node.
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', out, out],
      windowsHide: true,
    });
    child.on('error', () => undefined);
    child.unref();
    return child;
  } finally {
    fs.closeSync(out);
  }
}

function tail(file: string): string {
  try {
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split(/\r?\n/).slice(-5);
    return lines.length && lines[0] ? `:\n  ${lines.join('\n  ')}` : '';
  } catch {
    return '';
  }
}

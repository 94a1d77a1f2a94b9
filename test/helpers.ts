import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';

export const ROOT = path.resolve(__dirname, '..');
export const CLI = path.join(ROOT, 'runtime', 'bin', 'sprig.js');
export const FIXTURE_TASKS = path.join(ROOT, 'test', 'fixtures', 'tasks.ts');

export function uniqueQueue(): string {
  return `test-${randomUUID()}`;
}

export function tmpDir(prefix = 'sprig-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface Spawned {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

/**
 * Run the built CLI (`runtime/bin/sprig.js`); `detached`: in its own process group, as a terminal would
 * start it; `ipc`: with an IPC channel, as the extension starts it.
 */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; detached?: boolean; ipc?: boolean } = {}): Spawned {
  const proc = spawn(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    detached: !!opts.detached,
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d));
  proc.stderr!.on('data', (d: Buffer) => (err += d));
  const exit = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, out: () => out, err: () => err, exit };
}

export async function cliResult(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  const s = runCli(args, opts);
  const timer = setTimeout(() => s.proc.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const code = await s.exit;
  clearTimeout(timer);
  return { code, stdout: s.out(), stderr: s.err() };
}

/** Stop the embedded broker a test autostarted in `projectDir` (its pid is in .sprig/broker.json). */
export function stopEmbeddedBroker(projectDir: string): void {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(projectDir, '.sprig', 'broker.json'), 'utf8')) as { pid?: number };
    if (info.pid) process.kill(info.pid, 'SIGTERM');
  } catch {
    /* not started */
  }
}

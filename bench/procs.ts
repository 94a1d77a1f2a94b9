// Worker processes for the benchmark: spawn in their own process group, sample memory, kill the group.
import * as fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';

export interface Proc {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Last lines of stdout + stderr (for error reports). */
  output(): string;
  exited: Promise<number | null>;
  isAlive(): boolean;
}

const live = new Set<Proc>();

export function spawnGroup(name: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  const proc = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group: kill(-pid) reaches pool children too
  });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 20_000) out = out.slice(-10_000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  let alive = true;
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code, signal) => {
      alive = false;
      resolve(code ?? (signal ? -1 : null));
    }),
  );
  const p: Proc = { name, proc, pid: proc.pid!, output: () => out, exited, isAlive: () => alive };
  live.add(p);
  void exited.then(() => live.delete(p));
  return p;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM the group, wait up to graceMs, then SIGKILL the group (children included). */
export async function stopGroup(p: Proc, graceMs = 5000): Promise<void> {
  if (p.isAlive()) {
    // The main process only: it stops its own pool (warm shutdown, so --cpu-prof profiles get written).
    try {
      process.kill(p.pid, 'SIGTERM');
    } catch {
      // gone
    }
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    await Promise.race([p.exited, timer]);
  }
  // Whatever is left of the group (pool children, esbuild's service), dead or not.
  killGroup(p.pid, 'SIGKILL');
  live.delete(p);
}

/** Last resort, on exit: SIGKILL every group still running. */
export function killAll(): void {
  for (const p of live) killGroup(p.pid, 'SIGKILL');
  live.clear();
}

function readPpids(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const ent of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${ent}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    const list = children.get(ppid);
    if (list) list.push(Number(ent));
    else children.set(ppid, [Number(ent)]);
  }
  return children;
}

/** The process and all its descendants. */
export function processTree(pid: number): number[] {
  const children = readPpids();
  const out: number[] = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    for (const c of children.get(p) ?? []) todo.push(c);
  }
  return out;
}

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on every Linux build the bench runs on). */
const USER_HZ = 100;

/**
 * CPU milliseconds (user + system) the process and its live descendants have used so far: a cost
 * per task that a loaded machine does not inflate the way it does wall-clock rates.
 */
export function treeCpuMs(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      // Fields after the `(comm)`: state is [0], utime [11], stime [12].
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // exited meanwhile
    }
  }
  return (ticks * 1000) / USER_HZ;
}

function kbField(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

export interface MemSample {
  /** Sum of VmRSS over the tree, MB. */
  rss: number;
  /** Sum of Pss (shared pages split between sharers), MB. */
  pss: number;
  procs: Array<{ pid: number; comm: string; rss: number }>;
}

/** RSS (and PSS) of a process and all its descendants, in MB. */
export function treeMemory(pid: number): MemSample {
  let rss = 0;
  let pss = 0;
  const procs: MemSample['procs'] = [];
  for (const p of processTree(pid)) {
    try {
      const status = fs.readFileSync(`/proc/${p}/status`, 'utf8');
      const r = kbField(status, 'VmRSS') / 1024;
      rss += r;
      procs.push({ pid: p, comm: /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?', rss: Math.round(r * 10) / 10 });
      try {
        pss += kbField(fs.readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'), 'Pss') / 1024;
      } catch {
        pss += r;
      }
    } catch {
      // exited meanwhile
    }
  }
  return { rss, pss, procs };
}

/** Samples the tree's memory every intervalMs until stopped; keeps the peak. */
export class MemSampler {
  peak: MemSample = { rss: 0, pss: 0, procs: [] };
  private timer?: NodeJS.Timeout;
  constructor(
    private readonly pid: number,
    intervalMs = 100,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
  }
  sample(): void {
    const m = treeMemory(this.pid);
    if (m.rss > this.peak.rss) this.peak = m;
  }
  stop(): MemSample {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

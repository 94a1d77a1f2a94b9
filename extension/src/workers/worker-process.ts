/**
 * One worker: `sprig worker --app FILE -E ...` as a child of the extension host, running the
 * runtime the extension ships. Its logs go to its own output channel and are only shown: it is
 * 'running' when it says so over IPC (or its first heartbeat arrives), and it is stopped by a
 * shutdown request over IPC, the same on every OS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PoolKind } from '../settings.js';
import { cliPath, nodeChildEnv, runtime, type ChildExit, type WorkerReady } from '../runtime.js';

export interface WorkerSpec {
  tasksFile: string;
  queues: string[];
  concurrency: number;
  pool: PoolKind;
}

export interface WorkerLaunch {
  spec: WorkerSpec;
  projectDir: string;
  /** Passed by environment (SPRIG_BROKER_URL) so a password never shows in a process list. */
  brokerUrl?: string;
  autoreload: boolean;
  timeLimit: number;
  softTimeLimit: number;
  maxTasksPerChild: number;
}

export type WorkerRunState = 'starting' | 'running' | 'stopping' | 'stopped' | 'crashed';

/** The key that makes two starts the same worker: one per tasks file and queue set. */
export function workerKey(spec: Pick<WorkerSpec, 'tasksFile' | 'queues'>): string {
  return `${path.resolve(spec.tasksFile)}|${[...spec.queues].sort().join(',')}`;
}

export function workerArgs(l: WorkerLaunch, hostname: string, flags: ReadonlySet<string>): string[] {
  const a = [cliPath(), 'worker', '--app', l.spec.tasksFile, '-E', '-n', hostname, '--loglevel', 'info'];
  if (l.spec.queues.length) a.push('-Q', l.spec.queues.join(','));
  if (l.spec.concurrency > 0) a.push('-c', String(l.spec.concurrency));
  a.push('--pool', l.spec.pool);
  if (l.timeLimit > 0) a.push('--time-limit', String(l.timeLimit));
  if (l.softTimeLimit > 0) a.push('--soft-time-limit', String(l.softTimeLimit));
  if (l.maxTasksPerChild > 0) a.push('--max-tasks-per-child', String(l.maxTasksPerChild));
  // Passed only when the runtime's `sprig worker` defines it (cliFlags: read from the command, not its help text).
  if (l.autoreload && flags.has('--autoreload')) a.push('--autoreload');
  return a;
}

let seq = 0;

export class WorkerProcess implements vscode.Disposable {
  readonly key: string;
  readonly hostname: string;
  readonly output: vscode.OutputChannel;
  state: WorkerRunState = 'stopped';
  exitCode: number | null = null;
  /** How the last run ended (null while it runs). */
  exitSignal: NodeJS.Signals | null = null;
  /** What the running worker said when it began consuming (from IPC, not from its log). */
  ready?: WorkerReady;
  /** How the last stop() went. */
  lastStop?: ChildExit;
  active = 0;
  processed = 0;
  pid?: number;
  private child?: ChildProcess;
  private readonly changed = new vscode.EventEmitter<WorkerProcess>();
  readonly onDidChange = this.changed.event;
  private readonly crashed = new vscode.EventEmitter<WorkerProcess>();
  readonly onDidCrash = this.crashed.event;

  constructor(public launch: WorkerLaunch) {
    this.key = workerKey(launch.spec);
    const base = path.basename(launch.spec.tasksFile).replace(/\.[^.]+$/, '').replace(/[^A-Za-z0-9_-]/g, '-');
    const q = launch.spec.queues.length ? `-${launch.spec.queues.join('+').replace(/[^A-Za-z0-9_+-]/g, '-')}` : '';
    this.hostname = `vscode-${base}${q}-${process.pid}-${++seq}@${os.hostname()}`;
    this.output = vscode.window.createOutputChannel(`Sprig Worker: ${path.basename(launch.spec.tasksFile)}${launch.spec.queues.length ? ` [${launch.spec.queues.join(',')}]` : ''}`);
  }

  get label(): string {
    return `${path.basename(this.launch.spec.tasksFile)}${this.launch.spec.queues.length ? ` [${this.launch.spec.queues.join(',')}]` : ''}`;
  }

  start(flags: ReadonlySet<string>): void {
    if (this.child && this.child.exitCode === null) return;
    const args = workerArgs(this.launch, this.hostname, flags);
    this.output.appendLine(`[sprig] ${path.basename(process.execPath)} ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
    const child = spawn(process.execPath, args, {
      cwd: this.launch.projectDir,
      env: nodeChildEnv({ SPRIG_BROKER_URL: this.launch.brokerUrl ?? process.env.SPRIG_BROKER_URL, SPRIG_PROJECT_DIR: this.launch.projectDir, FORCE_COLOR: '0' }),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
      windowsHide: true,
    });
    this.child = child;
    this.pid = child.pid;
    this.exitCode = null;
    this.exitSignal = null;
    this.ready = undefined;
    this.active = 0;
    this.setState('starting');
    const { isWorkerReady } = runtime();
    child.on('message', (m: unknown) => {
      if (this.child !== child || !isWorkerReady(m)) return;
      this.ready = m;
      if (this.state === 'starting') this.setState('running');
    });
    // Decoded as a stream: a character split across two chunks stays whole.
    for (const stream of [child.stdout, child.stderr]) stream?.setEncoding('utf8').on('data', (text: string) => this.output.append(text));
    child.on('error', (err) => this.output.appendLine(`[sprig] cannot start the worker: ${err.message}`));
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.exitCode = code;
      this.exitSignal = signal;
      this.active = 0;
      this.output.appendLine(`[sprig] worker exited (${signal ?? `code ${code}`})`);
      const expected = this.state === 'stopping';
      this.setState(expected || code === 0 ? 'stopped' : 'crashed');
      if (!expected && code !== 0) this.crashed.fire(this);
    });
  }

  /** Counts from this worker's own heartbeats. */
  updateCounts(active: number, processed: number): void {
    // worker-online can arrive through the broker before the ready message over IPC.
    if (this.state === 'starting') {
      this.active = active;
      this.processed = processed;
      return this.setState('running');
    }
    if (active === this.active && processed === this.processed) return;
    this.active = active;
    this.processed = processed;
    this.changed.fire(this);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.setState('stopping');
    // Warm: running tasks finish; a worker still there after the grace period is killed.
    this.lastStop = await runtime().stopChild(child, { mode: 'warm', graceMs: 10_000 });
    if (this.lastStop.how !== 'ipc' && this.lastStop.how !== 'exited') this.output.appendLine(`[sprig] the worker did not stop on request (${this.lastStop.how})`);
  }

  get running(): boolean {
    return !!this.child;
  }

  private setState(s: WorkerRunState): void {
    if (s !== this.state) this.output.appendLine(`[sprig] worker ${this.hostname}: ${s}`);
    this.state = s;
    this.changed.fire(this);
  }

  dispose(): void {
    this.child?.kill('SIGKILL');
    this.output.dispose();
    this.changed.dispose();
    this.crashed.dispose();
  }
}

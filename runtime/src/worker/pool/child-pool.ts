/**
 * Process and thread pools: children that each run one task at a time (prefork semantics), fed in
 * batches. A child holds at most `depth` jobs (the prefetch multiplier up to MAX_DEPTH; 1 when a job has a time
 * limit or with max-tasks-per-child), runs them in order and answers in batches, so the parent
 * knows the running one is the oldest without a result.
 * A child that dies mid-task is replaced: its running task becomes LOST (the consumer requeues or
 * fails it per the ack settings) and the ones queued behind it go to other children. Hard time
 * limits kill the child; soft ones abort the task's signal.
 * A job revoked or expired while it waits in a child's batch is discarded by the child when its
 * turn comes (the check in hand-off.ts), so it never runs.
 */
import { spawn } from 'node:child_process';
import { Worker as Thread } from 'node:worker_threads';
import { errorToInfo, type Job, type Outcome } from '../trace.js';
import type { ProgressReport } from '../../app/task.js';
import { TimeLimitExceeded, WorkerLostError } from '../../errors.js';
import { poolChildPath } from '../../util/paths.js';
import { packJob, sendExact, unwrapExact, type FromChild, type JobDone, type ToChild } from './child-protocol.js';
import { handBackOutcome, type Pool, type PoolOptions } from './types.js';
import { discardedOutcome, discardReason } from '../hand-off.js';
import type { ShutdownMode } from '../../util/child-ipc.js';
import { setLongTimeout } from '../../util/timers.js';

/**
 * A child holds at most this many jobs even when the window is larger: the rest wait in the worker,
 * ready for whichever child answers first (no child sits idle while the next batch is fetched, and
 * one slow task holds back at most this many behind it).
 */
const MAX_DEPTH = 128;
function childDepth(n: number): number {
  return Math.max(1, Math.min(n, MAX_DEPTH));
}

/**
 * V8 settings of a pool process (before the worker's own execArgv, so a flag given there or in
 * NODE_OPTIONS wins). A child runs one task at a time, and what it allocates per task dies young:
 * a 1 MB young generation (V8's default grows it to 16 MB under load) and one V8 background thread
 * instead of four (each keeps its own stack and malloc arena) take ~8 MB off each child under
 * load, at the same CPU per task (measured: bench/README.md, process pool memory).
 */
const CHILD_FLAGS: Record<string, string> = { '--max-semi-space-size': '1', '--v8-pool-size': '1' };

function childFlags(): string[] {
  const given = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  return Object.entries(CHILD_FLAGS)
    .filter(([flag]) => !given.includes(flag) && !given.includes(`--${flag.slice(2).replace(/-/g, '_')}`))
    .map(([flag, v]) => `${flag}=${v}`);
}

const NONE_REVOKED: ReadonlySet<string> = new Set();

function within(p: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

interface Running {
  job: Job;
  resolve: (o: Outcome) => void;
  started: number;
  timers: NodeJS.Timeout[];
  limited: boolean;
  hard: number | null;
  soft: number | null;
  /** Why we killed the child, if we did. */
  killedFor?: 'timelimit' | 'terminate';
  /** Revoked while queued in a child: the child discards it; if the child dies first, it ends here, not elsewhere. */
  revoked?: boolean;
  onStarted?: (pid: number) => void;
  onProgress?: (r: ProgressReport) => void;
  /** It became the running job of its child (`onStarted` was called). */
  running?: boolean;
}

interface Child {
  readonly pid: number;
  /** `binary`: the message may hold bytes (child-protocol.ts sendExact). */
  send(m: ToChild, binary?: boolean): void;
  kill(): void;
  ready: Promise<void>;
  /** Jobs sent and not answered, oldest (= running) first. */
  assigned: Running[];
  outbox: Job[];
  flushScheduled: boolean;
  tasksRun: number;
  retiring: boolean;
  exited: boolean;
  /** Bundle generation it loaded (autoreload). */
  generation: number;
  /** Resolves when it exited. */
  gone: Promise<void>;
  markGone: () => void;
}

/** How long a child may take to exit after a shutdown request before it is killed. */
const EXIT_GRACE_MS: Record<ShutdownMode, number> = { warm: 2000, cold: 1000 };

export class ChildPool implements Pool {
  private children: Child[] = [];
  /** Jobs waiting for a suitable child (all busy, or a limited job waiting for an idle one). */
  private pending: Running[] = [];
  private stopping = false;
  private target: number;
  private generation = 0;
  private bundle: string;
  private idleWaiters: Array<() => void> = [];
  private depth: number;
  onFree?: () => void;
  /**
   * The adaptive window may grow to 256 jobs a slot here (the async pool stops at 16): each batch
   * to a child and back costs two IPC messages whatever it carries, so with short tasks a small
   * window leaves the children waiting on round trips. The tuner's budget (prefetch.ts: at most
   * ~4 ms of queued work a slot) still bounds it, so slow tasks shrink it back to Celery's 4.
   */
  readonly maxPrefetchMultiplier = 256;

  constructor(
    readonly kind: 'process' | 'thread',
    private readonly o: PoolOptions & { bundle: string; depth?: number },
  ) {
    this.target = o.concurrency;
    this.bundle = o.bundle;
    this.depth = o.maxTasksPerChild ? 1 : childDepth(o.depth ?? 1);
  }

  get size(): number {
    return this.target;
  }

  setDepth(n: number): void {
    if (this.o.maxTasksPerChild) return;
    this.depth = childDepth(n);
    this.dispatchPending();
  }

  get free(): number {
    let n = 0;
    for (const c of this.children) if (this.usable(c)) n += this.depth - c.assigned.length;
    return Math.max(0, n - this.pending.length);
  }

  get busy(): number {
    let n = 0;
    for (const c of this.children) if (c.assigned.length) n++;
    return n;
  }

  get backlog(): number {
    let n = this.pending.length;
    for (const c of this.children) if (c.assigned.length > 1) n += c.assigned.length - 1;
    return n;
  }

  private usable(c: Child): boolean {
    return !c.retiring && !c.exited && c.generation === this.generation;
  }

  /** If the worker exits before its children did (a cold shutdown cut short), none is left behind. */
  private readonly killAll = () => {
    for (const c of this.children) if (!c.exited) c.kill();
  };

  async start(): Promise<void> {
    process.on('exit', this.killAll);
    const spawned: Child[] = [];
    for (let i = 0; i < this.target; i++) spawned.push(this.spawn());
    await Promise.all(spawned.map((c) => c.ready));
  }

  private spawn(): Child {
    let resolveReady!: () => void;
    let rejectReady!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    ready.catch(() => undefined);
    // Assigned once below; the handlers are created first because the child is built around them.
    // eslint-disable-next-line prefer-const
    let child: Child;
    const onMessage = (raw: FromChild) => {
      const m = unwrapExact(raw);
      if (m.t === 'done') this.finish(child, m.results, m.rss);
      else if (m.t === 'progress') child.assigned.find((x) => x.job.id === m.id)?.onProgress?.(m.report);
      else if (m.t === 'ready') resolveReady();
      else {
        this.o.log('error', `pool child failed to load the tasks file: ${m.message}`);
        rejectReady(new Error(m.message));
        child.kill();
      }
    };
    const onExit = (code: number | null, signal: string | null) => this.exited(child, code, signal);
    const env = { ...process.env, ...this.o.childEnv, SPRIG_POOL_CHILD: '1' };
    let send: (m: ToChild, binary?: boolean) => void;
    let kill: () => void;
    let pid: number;
    if (this.kind === 'process') {
      // fork() by hand: spawn takes windowsHide, without which Windows opens a console window for
      // each child of a worker that has none (one the extension started).
      const cp = spawn(process.execPath, [...childFlags(), ...process.execArgv, poolChildPath()], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'json',
        env,
        windowsHide: true,
      });
      cp.on('message', onMessage);
      cp.on('exit', onExit);
      cp.on('error', (err) => this.o.log('error', `pool child error: ${err.message}`));
      pid = cp.pid ?? -1;
      send = (m, binary) => {
        if (cp.connected) sendExact((x) => cp.send(x), m, binary);
      };
      kill = () => void cp.kill('SIGKILL');
    } else {
      const th = new Thread(poolChildPath(), { env });
      th.on('message', onMessage);
      th.on('exit', (code) => onExit(code, null));
      th.on('error', (err) => this.o.log('error', `pool thread error: ${err.message}`));
      pid = th.threadId;
      send = (m) => th.postMessage(m);
      kill = () => void th.terminate();
    }
    let markGone!: () => void;
    const gone = new Promise<void>((r) => (markGone = r));
    child = { pid, send, kill, ready, assigned: [], outbox: [], flushScheduled: false, tasksRun: 0, retiring: false, exited: false, generation: this.generation, gone, markGone };
    child.send({ t: 'init', bundle: this.bundle, reportMemory: !!this.o.maxMemoryPerChild });
    this.children.push(child);
    void ready.then(
      () => this.dispatchPending(),
      () => undefined,
    );
    return child;
  }

  run(job: Job, done: (o: Outcome) => void, started?: (pid: number) => void, progress?: (r: ProgressReport) => void): void {
    const { timeLimit: hard, softTimeLimit: soft } = job;
    const r: Running = { job, resolve: done, started: performance.now(), timers: [], limited: !!(hard || soft), hard, soft, onStarted: started, onProgress: progress };
    if (!this.dispatch(r)) this.pending.push(r);
  }

  /**
   * Give `r` to a child: a limited job only to an idle one (its timers start now). Others go to an
   * idle child first, then to one already being sent jobs this tick (so a batch goes out as one
   * message instead of being spread thin), then to the least loaded.
   */
  private dispatch(r: Running): boolean {
    let best: Child | undefined;
    let batching: Child | undefined;
    for (const c of this.children) {
      if (!this.usable(c)) continue;
      if (r.limited) {
        if (c.assigned.length === 0) {
          best = c;
          break;
        }
        continue;
      }
      if (c.assigned.length >= this.depth || c.assigned[0]?.limited) continue;
      if (c.assigned.length === 0) {
        best = c;
        break;
      }
      if (!batching && c.outbox.length) batching = c;
      if (!best || c.assigned.length < best.assigned.length) best = c;
    }
    if (best?.assigned.length && batching) best = batching;
    if (!best) return false;
    this.assign(best, r);
    return true;
  }

  private assign(child: Child, r: Running): void {
    child.assigned.push(r);
    child.outbox.push(r.job);
    if (r.limited) this.startTimers(child, r);
    if (child.assigned.length === 1) this.headStarted(child);
    if (!child.flushScheduled) {
      child.flushScheduled = true;
      queueMicrotask(() => this.flush(child));
    }
  }

  /** Send the jobs assigned this tick as one message. */
  private flush(child: Child): void {
    child.flushScheduled = false;
    if (!child.outbox.length || child.exited) return;
    const jobs = child.outbox;
    child.outbox = [];
    child.send({ t: 'run', jobs: jobs.map(packJob) }, jobs.some((j) => j.binary));
  }

  private startTimers(child: Child, r: Running): void {
    r.started = performance.now();
    const { hard, soft } = r;
    if (soft) r.timers.push(setLongTimeout(() => child.send({ t: 'abort', id: r.job.id, reason: 'soft', seconds: soft }), soft * 1000));
    if (hard) {
      r.timers.push(
        setLongTimeout(() => {
          r.killedFor = 'timelimit';
          this.o.log('error', `Hard time limit (${hard}s) exceeded for ${r.job.name}[${r.job.id}]: killing pool child ${child.pid}`);
          child.kill();
        }, hard * 1000),
      );
    }
  }

  /**
   * The oldest job a child holds is the one it runs (it runs them in order): it started when it
   * became the oldest, unless the child discards it (revoked or expired while it waited, the
   * check of hand-off.ts). Until then it is reserved, not active.
   */
  private headStarted(child: Child): void {
    const r = child.assigned[0];
    if (!r || r.running || r.revoked || discardReason(r.job.id, r.job.expires, NONE_REVOKED)) return;
    r.running = true;
    if (!r.limited) r.started = performance.now();
    r.onStarted?.(this.kind === 'process' ? child.pid : process.pid);
  }

  private dispatchPending(): void {
    if (!this.pending.length) return;
    const waiting = this.pending;
    this.pending = [];
    for (const r of waiting) if (!this.dispatch(r)) this.pending.push(r);
  }

  private finish(child: Child, results: JobDone[], rss?: number): void {
    const ended: Array<[Running, Outcome]> = [];
    for (const { id, outcome } of results) {
      const i = child.assigned[0]?.job.id === id ? 0 : child.assigned.findIndex((x) => x.job.id === id);
      if (i < 0) continue;
      const r = child.assigned.splice(i, 1)[0]!;
      for (const t of r.timers) clearTimeout(t);
      child.tasksRun++;
      ended.push([r, outcome]);
      if (i === 0) this.headStarted(child);
    }
    const maxTasks = this.o.maxTasksPerChild;
    const maxMem = this.o.maxMemoryPerChild;
    if (maxTasks && child.tasksRun >= maxTasks) this.retire(child, `after ${child.tasksRun} tasks (max-tasks-per-child)`);
    else if (maxMem && rss && rss / 1024 > maxMem) this.retire(child, `its memory ${Math.round(rss / 1024)} KB is over max-memory-per-child ${maxMem} KB`);
    else if (!child.assigned.length && (child.generation !== this.generation || this.liveCount() > this.target)) this.retire(child, 'new code or smaller pool');
    // Handed back after the bookkeeping (a child due to retire is marked first): the consumer
    // starts new jobs from these callbacks.
    for (const [r, outcome] of ended) handBackOutcome(r.resolve, outcome);
    this.slotFreed();
  }

  private liveCount(): number {
    return this.children.filter((c) => !c.retiring && !c.exited).length;
  }

  private slotFreed(): void {
    this.dispatchPending();
    if (!this.children.some((c) => c.assigned.length) && !this.pending.length) for (const w of this.idleWaiters.splice(0)) w();
    this.onFree?.();
  }

  /** Replace a child gracefully: it finishes what it was sent, then exits. */
  private retire(child: Child, why: string): void {
    if (child.retiring) return;
    child.retiring = true;
    this.o.log('info', `replacing pool child ${child.pid} ${why}`);
    child.send({ t: 'shutdown', mode: 'warm' });
    // Keep the pool at its size while this one finishes.
    if (!this.stopping && this.liveCount() < this.target) this.spawn();
  }

  private exited(child: Child, code: number | null, signal: string | null): void {
    child.exited = true;
    child.markGone();
    const i = this.children.indexOf(child);
    if (i >= 0) this.children.splice(i, 1);
    const [first, ...rest] = child.assigned;
    child.assigned = [];
    if (first) {
      for (const t of first.timers) clearTimeout(t);
      const runtime = (performance.now() - first.started) / 1000;
      if (first.killedFor === 'timelimit') first.resolve({ state: 'FAILURE', ...errorToInfo(new TimeLimitExceeded(first.hard ?? 0)), runtime });
      else if (first.killedFor === 'terminate') first.resolve({ state: 'FAILURE', ...errorToInfo(new WorkerLostError('terminated')), runtime });
      else {
        const why = `pool child ${child.pid} exited (${signal ?? `code ${code}`}) while running ${first.job.name}[${first.job.id}]`;
        this.o.log('error', why);
        first.resolve({ state: 'LOST', reason: why, runtime });
      }
    } else if (!child.retiring && !this.stopping) {
      this.o.log('warn', `pool child ${child.pid} exited (${signal ?? `code ${code}`})`);
    } else {
      this.o.log('debug', `pool child ${child.pid} exited (${signal ?? `code ${code}`}) after ${this.stopping ? 'the shutdown request' : 'retiring'}`);
    }
    // The ones queued behind never started: they run elsewhere, unless revoked meanwhile.
    for (const r of rest) for (const t of r.timers) clearTimeout(t);
    for (const r of rest) if (r.revoked) r.resolve(discardedOutcome('revoked'));
    this.pending.unshift(...rest.filter((r) => !r.revoked));
    if (!this.stopping && this.liveCount() < this.target) this.spawn();
    if (this.stopping) for (const r of this.pending.splice(0)) r.resolve({ state: 'LOST', reason: 'worker shutdown', runtime: 0 });
    this.slotFreed();
  }

  terminate(jobId: string, _reason: string): boolean {
    for (const c of this.children) {
      const i = c.assigned.findIndex((x) => x.job.id === jobId);
      if (i < 0) continue;
      if (i === 0) {
        c.assigned[0]!.killedFor = 'terminate';
        c.kill();
      } else c.send({ t: 'abort', id: jobId, reason: 'terminate' });
      return true;
    }
    const p = this.pending.findIndex((x) => x.job.id === jobId);
    if (p >= 0) {
      const [r] = this.pending.splice(p, 1);
      r!.resolve({ state: 'FAILURE', ...errorToInfo(new WorkerLostError('terminated before it started')), runtime: 0 });
      return true;
    }
    return false;
  }

  /** A job revoked before it started: one waiting for a child ends now; one in a child's batch is discarded there. */
  revoke(jobId: string): boolean {
    const p = this.pending.findIndex((x) => x.job.id === jobId);
    if (p >= 0) {
      const [r] = this.pending.splice(p, 1);
      r!.resolve(discardedOutcome('revoked'));
      return true;
    }
    for (const c of this.children) {
      const r = c.assigned.find((x) => x.job.id === jobId);
      if (!r) continue;
      r.revoked = true;
      // The child must have the job before it hears it is revoked.
      this.flush(c);
      c.send({ t: 'revoke', id: jobId });
      return true;
    }
    return false;
  }

  /** Handed to the pool but not started: waiting for a child, or behind the running job of one. */
  queued(jobId: string): boolean {
    if (this.pending.some((x) => x.job.id === jobId)) return true;
    for (const c of this.children) {
      const i = c.assigned.findIndex((x) => x.job.id === jobId);
      if (i >= 0) return i > 0;
    }
    return false;
  }

  async grow(n: number): Promise<void> {
    this.target += n;
    const spawned: Child[] = [];
    while (this.liveCount() < this.target) spawned.push(this.spawn());
    await Promise.all(spawned.map((c) => c.ready.catch(() => undefined)));
  }

  async shrink(n: number): Promise<void> {
    this.target = Math.max(1, this.target - n);
    let extra = this.liveCount() - this.target;
    for (const c of this.children) {
      if (extra <= 0) break;
      if (!c.assigned.length && !c.retiring) {
        this.retire(c, 'pool shrink');
        extra--;
      }
    }
    // Busy ones retire when their jobs are done (finish() sees more children than the target).
  }

  /** New code: new jobs go to children that load it; running tasks finish on the old code. */
  async reload(bundle: string): Promise<void> {
    this.bundle = bundle;
    this.generation++;
    for (const c of [...this.children]) if (!c.assigned.length) this.retire(c, 'to load new code');
    // Busy ones retire as they empty; meanwhile make sure new-code children exist.
    while (this.children.filter((c) => this.usable(c)).length < this.target) this.spawn();
  }

  /**
   * Shutdown over each child's channel (its IPC channel, a thread's message port): no signal, so the
   * same on every OS. Warm waits for the running jobs first; a child still there after the grace
   * period is killed.
   */
  async stop(graceful: boolean): Promise<void> {
    if (graceful && (this.children.some((c) => c.assigned.length) || this.pending.length)) await new Promise<void>((r) => this.idleWaiters.push(r));
    this.stopping = true;
    const mode: ShutdownMode = graceful ? 'warm' : 'cold';
    await Promise.all(
      this.children.map(async (c) => {
        if (c.exited) return;
        c.send({ t: 'shutdown', mode });
        if (await within(c.gone, EXIT_GRACE_MS[mode])) return;
        this.o.log('warn', `pool child ${c.pid} did not exit within ${EXIT_GRACE_MS[mode]} ms of the ${mode} shutdown request: killing it`);
        c.kill();
        await within(c.gone, 1000);
      }),
    );
    process.off('exit', this.killAll);
  }

  pids(): number[] {
    return this.children.filter((c) => !c.exited && !c.retiring).map((c) => c.pid);
  }
}

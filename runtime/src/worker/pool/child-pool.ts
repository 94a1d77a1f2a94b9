/**
 * Process and thread pools: children that each run one task at a time (prefork semantics).
 * A child that dies mid-task is replaced; its task becomes LOST (the consumer requeues or fails
 * it per the ack settings). Hard time limits kill the child, soft ones abort the task's signal.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Worker as Thread } from 'node:worker_threads';
import { errorToInfo, type Job, type Outcome } from '../trace.js';
import { TimeLimitExceeded, WorkerLostError } from '../../errors.js';
import { poolChildPath } from '../../util/paths.js';
import type { FromChild, ToChild } from './child-protocol.js';
import { effectiveLimits, type Pool, type PoolOptions } from './types.js';

interface Running {
  job: Job;
  resolve: (o: Outcome) => void;
  started: number;
  timers: NodeJS.Timeout[];
  /** Why we killed the child, if we did. */
  killedFor?: 'timelimit' | 'terminate';
  hard?: number | null;
}

interface Child {
  readonly pid: number;
  send(m: ToChild): void;
  kill(signal?: NodeJS.Signals): void;
  ready: Promise<void>;
  running?: Running;
  tasksRun: number;
  retiring: boolean;
  /** Bundle generation it loaded (autoreload). */
  generation: number;
}

export class ChildPool implements Pool {
  private children: Child[] = [];
  private stopping = false;
  private target: number;
  private generation = 0;
  private bundle: string;
  private idleWaiters: Array<() => void> = [];
  onFree?: () => void;

  constructor(
    readonly kind: 'process' | 'thread',
    private readonly o: PoolOptions & { bundle: string },
  ) {
    this.target = o.concurrency;
    this.bundle = o.bundle;
  }

  get size(): number {
    return this.target;
  }

  get free(): number {
    let n = 0;
    for (const c of this.children) if (!c.running && !c.retiring) n++;
    return n;
  }

  async start(): Promise<void> {
    const spawned: Child[] = [];
    for (let i = 0; i < this.target; i++) spawned.push(this.spawn());
    await Promise.all(spawned.map((c) => c.ready));
  }

  private spawn(): Child {
    const generation = this.generation;
    let resolveReady!: () => void;
    let rejectReady!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    ready.catch(() => undefined);
    let child: Child;
    const onMessage = (m: FromChild) => {
      if (m.t === 'ready') resolveReady();
      else if (m.t === 'init-error') {
        this.o.log('error', `pool child failed to load the tasks file: ${m.message}`);
        rejectReady(new Error(m.message));
      } else if (m.t === 'done') this.finish(child, m.outcome, m.rss);
    };
    const onExit = (code: number | null, signal: string | null) => this.exited(child, code, signal);
    if (this.kind === 'process') {
      const cp: ChildProcess = fork(poolChildPath(), [], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
        env: { ...process.env, SPRIG_POOL_CHILD: '1' },
      });
      cp.on('message', onMessage);
      cp.on('exit', onExit);
      cp.on('error', (err) => this.o.log('error', `pool child error: ${err.message}`));
      child = {
        pid: cp.pid ?? -1,
        send: (m) => {
          if (cp.connected) cp.send(m);
        },
        kill: (s = 'SIGKILL') => void cp.kill(s),
        ready,
        tasksRun: 0,
        retiring: false,
        generation,
      };
    } else {
      const th = new Thread(poolChildPath(), { env: { ...process.env, SPRIG_POOL_CHILD: '1' } });
      th.on('message', onMessage);
      th.on('exit', (code) => onExit(code, null));
      th.on('error', (err) => this.o.log('error', `pool thread error: ${err.message}`));
      child = {
        pid: th.threadId,
        send: (m) => th.postMessage(m),
        kill: () => void th.terminate(),
        ready,
        tasksRun: 0,
        retiring: false,
        generation,
      };
    }
    child.send({ t: 'init', bundle: this.bundle, reportMemory: !!this.o.maxMemoryPerChild });
    this.children.push(child);
    void ready.then(
      () => this.onFree?.(),
      () => undefined,
    );
    return child;
  }

  run(job: Job): Promise<Outcome> {
    const child = this.children.find((c) => !c.running && !c.retiring);
    if (!child) return Promise.reject(new Error('pool has no free slot'));
    return new Promise<Outcome>((resolve) => {
      const r: Running = { job, resolve, started: performance.now(), timers: [] };
      child.running = r;
      const { hard, soft } = effectiveLimits(job, this.o);
      r.hard = hard;
      if (soft) r.timers.push(setTimeout(() => child.send({ t: 'abort', id: job.id, reason: 'soft', seconds: soft }), soft * 1000));
      if (hard) {
        r.timers.push(
          setTimeout(() => {
            r.killedFor = 'timelimit';
            this.o.log('error', `Hard time limit (${hard}s) exceeded for ${job.name}[${job.id}]: killing pool child ${child.pid}`);
            child.kill('SIGKILL');
          }, hard * 1000),
        );
      }
      void child.ready.then(
        () => child.send({ t: 'run', job }),
        () => undefined,
      );
    });
  }

  private finish(child: Child, outcome: Outcome, rss?: number): void {
    const r = child.running;
    if (!r) return;
    for (const t of r.timers) clearTimeout(t);
    child.running = undefined;
    child.tasksRun++;
    const maxTasks = this.o.maxTasksPerChild;
    const maxMem = this.o.maxMemoryPerChild;
    if (maxTasks && child.tasksRun >= maxTasks) this.retire(child, `after ${child.tasksRun} tasks (max-tasks-per-child)`);
    else if (maxMem && rss && rss / 1024 > maxMem) this.retire(child, `its memory ${Math.round(rss / 1024)} KB is over max-memory-per-child ${maxMem} KB`);
    else if (child.generation !== this.generation || this.children.length > this.target) this.retire(child, 'new code or smaller pool');
    r.resolve(outcome);
    this.slotFreed();
  }

  private slotFreed(): void {
    if (!this.children.some((c) => c.running)) for (const w of this.idleWaiters.splice(0)) w();
    this.onFree?.();
  }

  /** Replace a child gracefully: it exits after its current task (it has none here). */
  private retire(child: Child, why: string): void {
    if (child.retiring) return;
    child.retiring = true;
    this.o.log('info', `replacing pool child ${child.pid} ${why}`);
    child.send({ t: 'exit' });
  }

  private exited(child: Child, code: number | null, signal: string | null): void {
    const i = this.children.indexOf(child);
    if (i >= 0) this.children.splice(i, 1);
    const r = child.running;
    child.running = undefined;
    if (r) {
      for (const t of r.timers) clearTimeout(t);
      const runtime = (performance.now() - r.started) / 1000;
      if (r.killedFor === 'timelimit') r.resolve({ state: 'FAILURE', ...errorToInfo(new TimeLimitExceeded(r.hard ?? 0)), runtime });
      else if (r.killedFor === 'terminate') r.resolve({ state: 'FAILURE', ...errorToInfo(new WorkerLostError('terminated')), runtime });
      else {
        const why = `pool child ${child.pid} exited (${signal ?? `code ${code}`}) while running ${r.job.name}[${r.job.id}]`;
        this.o.log('error', why);
        r.resolve({ state: 'LOST', reason: why, runtime });
      }
    } else if (!child.retiring && !this.stopping) {
      this.o.log('warn', `pool child ${child.pid} exited (${signal ?? `code ${code}`})`);
    }
    if (!this.stopping && this.children.length < this.target) this.spawn();
    this.slotFreed();
  }

  terminate(jobId: string, _reason: string): boolean {
    const c = this.children.find((x) => x.running?.job.id === jobId);
    if (!c || !c.running) return false;
    c.running.killedFor = 'terminate';
    c.kill('SIGKILL');
    return true;
  }

  async grow(n: number): Promise<void> {
    this.target += n;
    const spawned: Child[] = [];
    while (this.children.filter((c) => !c.retiring).length < this.target) spawned.push(this.spawn());
    await Promise.all(spawned.map((c) => c.ready.catch(() => undefined)));
  }

  async shrink(n: number): Promise<void> {
    this.target = Math.max(1, this.target - n);
    let extra = this.children.filter((c) => !c.retiring).length - this.target;
    for (const c of this.children) {
      if (extra <= 0) break;
      if (!c.running && !c.retiring) {
        this.retire(c, 'pool shrink');
        extra--;
      }
    }
    // Busy ones retire when their task ends (finish() sees children.length > target).
  }

  /** New code: children are replaced as they become idle; running tasks finish on the old code. */
  async reload(bundle?: string): Promise<void> {
    if (bundle) this.bundle = bundle;
    this.generation++;
    for (const c of [...this.children]) if (!c.running) this.retire(c, 'to load new code');
  }

  async stop(graceful: boolean): Promise<void> {
    if (graceful && this.children.some((c) => c.running)) await new Promise<void>((r) => this.idleWaiters.push(r));
    this.stopping = true;
    const exits = this.children.map(
      (c) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            c.kill('SIGKILL');
            resolve();
          }, 2000);
          const check = setInterval(() => {
            if (!this.children.includes(c)) {
              clearTimeout(t);
              clearInterval(check);
              resolve();
            }
          }, 20);
          if (graceful) c.send({ t: 'exit' });
          else c.kill('SIGKILL');
        }),
    );
    await Promise.all(exits);
  }

  pids(): number[] {
    return this.children.map((c) => c.pid);
  }
}

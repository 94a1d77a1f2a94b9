/**
 * Test-only hooks, registered only when the test launcher sets SPRIG_TEST_HOOKS=1 (never
 * contributed in package.json, so never in the command palette). `sprig._test.feedEvents` pushes
 * synthetic Celery events into the EventHub exactly where the broker subscription does
 * (EventHub.inject → ClusterState + the ~100 ms batches the monitor posts), for the UI test's
 * performance measurement: a bulk load of N tasks, then a sustained rate of events per second.
 * The UI test invokes it through a keybinding with arguments (keybindings.json) and reads the
 * outcome from SPRIG_TEST_OUT/feed-<phase>.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { SprigEvent } from '../runtime.js';
import type { EventHub } from './event-hub.js';

export const FEED_COMMAND = 'sprig._test.feedEvents';

export interface FeedArgs {
  /** 'bulk': `tasks` tasks as fast as the host allows; 'rate': `rate` events/s for `seconds`. */
  phase: 'bulk' | 'rate';
  tasks?: number;
  rate?: number;
  seconds?: number;
  /** Fake worker hostnames (default two). */
  workers?: string[];
  /** Events injected per host turn in the bulk phase (the host stays responsive between). */
  chunk?: number;
}

export interface FeedResult {
  phase: string;
  events: number;
  tasks: number;
  ms: number;
  eventsPerSec: number;
  firstTaskId: string;
  lastTaskId: string;
  /** Largest delay of the host's event loop while feeding (ms). */
  hostLagMaxMs: number;
  postedBefore: number;
  postedAfter: number;
}

export function testHooksEnabled(): boolean {
  return process.env.SPRIG_TEST_HOOKS === '1';
}

export function registerTestHooks(hub: () => EventHub, posted: () => number): vscode.Disposable {
  let seq = 0;
  let clock = 1_000_000;
  return vscode.commands.registerCommand(FEED_COMMAND, async (raw?: Partial<FeedArgs>) => {
    const args: FeedArgs = { phase: raw?.phase === 'rate' ? 'rate' : 'bulk', ...raw } as FeedArgs;
    const workers = args.workers?.length ? args.workers : ['perf-a@sprig-test', 'perf-b@sprig-test'];
    const run = ++seq;
    const gen = new Generator(workers, `${run.toString(16).padStart(2, '0')}`, () => ++clock);
    const h = hub();
    const lag = lagMeter();
    const postedBefore = posted();
    const t0 = performance.now();
    h.inject(gen.online());
    if (args.phase === 'bulk') {
      const tasks = args.tasks ?? 100_000;
      const chunk = Math.max(2, args.chunk ?? 10_000);
      for (let i = 0; i < tasks; ) {
        const batch: SprigEvent[] = [];
        while (i < tasks && batch.length < chunk) batch.push(...gen.task(i++, false));
        h.inject(batch);
        await new Promise((r) => setTimeout(r, 0));
      }
    } else {
      const rate = args.rate ?? 10_000;
      const seconds = args.seconds ?? 5;
      const until = t0 + seconds * 1000;
      let due = 0;
      let beat = t0;
      let i = 0;
      const queue: SprigEvent[] = [];
      for (;;) {
        const now = performance.now();
        const target = Math.min(rate * seconds, Math.floor(((Math.min(now, until) - t0) / 1000) * rate));
        const batch: SprigEvent[] = [];
        while (due < target) {
          if (!queue.length) queue.push(...gen.task(i++, true));
          batch.push(queue.shift()!);
          due++;
        }
        if (now - beat >= 2000) {
          batch.push(...gen.heartbeat());
          beat = now;
        }
        if (batch.length) h.inject(batch);
        if (now >= until) break;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const ms = performance.now() - t0;
    // Let the last ~100 ms batch go out before reporting.
    await new Promise((r) => setTimeout(r, 250));
    const result: FeedResult = {
      phase: args.phase,
      events: gen.events,
      tasks: gen.tasks,
      ms: Math.round(ms),
      eventsPerSec: Math.round(gen.events / (ms / 1000)),
      firstTaskId: gen.firstId ?? '',
      lastTaskId: gen.lastId ?? '',
      hostLagMaxMs: lag.stop(),
      postedBefore,
      postedAfter: posted(),
    };
    const out = process.env.SPRIG_TEST_OUT;
    if (out) {
      fs.mkdirSync(out, { recursive: true });
      fs.writeFileSync(path.join(out, `feed-${args.phase}.json`), JSON.stringify(result, null, 2));
    }
    vscode.window.setStatusBarMessage(`sprig test feed ${args.phase}: ${result.events} events in ${result.ms} ms`, 10_000);
    return result;
  });
}

/** Synthetic Celery events for fake workers: received → (started →) succeeded, some failures. */
class Generator {
  events = 0;
  tasks = 0;
  firstId?: string;
  lastId?: string;
  private processed = 0;

  constructor(
    private readonly workers: string[],
    private readonly run: string,
    private readonly tick: () => number,
  ) {}

  private base(type: string, hostname: string): { type: string; hostname: string; pid: number; clock: number; timestamp: number; utcoffset: number } {
    this.events++;
    return { type, hostname, pid: 4242, clock: this.tick(), timestamp: Date.now() / 1000, utcoffset: 0 };
  }

  private status(type: 'worker-online' | 'worker-heartbeat', hostname: string): SprigEvent {
    return { ...this.base(type, hostname), freq: 2, active: 0, processed: this.processed, loadavg: [0.1, 0.2, 0.3], sw_ident: 'sprig-test', sw_ver: '0', sw_sys: 'test' } as SprigEvent;
  }

  online(): SprigEvent[] {
    return this.workers.map((w) => this.status('worker-online', w));
  }

  heartbeat(): SprigEvent[] {
    return this.workers.map((w) => this.status('worker-heartbeat', w));
  }

  /** A uuid-shaped, deterministic id: run, task number. */
  id(i: number): string {
    const n = i.toString(16).padStart(12, '0');
    return `${this.run}${n.slice(-6)}-7e57-4000-8000-${n}`;
  }

  task(i: number, started: boolean): SprigEvent[] {
    const uuid = this.id(i);
    const hostname = this.workers[i % this.workers.length]!;
    const fail = i % 10 === 7;
    const name = fail ? 'perf.boom' : i % 3 === 0 ? 'perf.mul' : 'perf.add';
    this.tasks++;
    this.processed++;
    this.firstId ??= uuid;
    this.lastId = uuid;
    const out: SprigEvent[] = [
      { ...this.base('task-received', hostname), uuid, name, args: `[${i}, ${i % 97}]`, kwargs: '{}', retries: 0, eta: null, expires: null, root_id: uuid, parent_id: null } as SprigEvent,
    ];
    if (started) out.push({ ...this.base('task-started', hostname), uuid } as SprigEvent);
    out.push(
      fail
        ? ({ ...this.base('task-failed', hostname), uuid, exception: `ValueError('synthetic failure ${i}')`, traceback: 'Traceback (most recent call last):\n  at perf (perf.ts:1:1)\nValueError: synthetic failure' } as SprigEvent)
        : ({ ...this.base('task-succeeded', hostname), uuid, result: String(i + (i % 97)), runtime: 0.001 + (i % 50) / 1000 } as SprigEvent),
    );
    return out;
  }
}

function lagMeter(): { stop(): number } {
  let max = 0;
  let last = performance.now();
  const t = setInterval(() => {
    const now = performance.now();
    max = Math.max(max, now - last - 20);
    last = now;
  }, 20);
  return {
    stop() {
      clearInterval(t);
      return Math.round(Math.max(0, max));
    },
  };
}

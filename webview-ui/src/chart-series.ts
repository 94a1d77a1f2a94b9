/** What the charts draw (charts.ts), as per-second buckets over a sliding window: no DOM, unit-tested. */
import type { SprigEvent } from '../../runtime/src/events/types.js';
import type { QueueInfo } from '../../runtime/src/control/queue-info.js';

/** Seconds kept and shown. */
export const WINDOW_S = 300;

interface Second {
  succeeded: number;
  failed: number;
  runtimes: number[];
  depth: number | null;
}

/** The q-quantile of sorted values (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Per-second buckets over a sliding window: what the charts draw, with no DOM (unit-tested). */
export class ChartSeries {
  private readonly seconds = new Map<number, Second>();
  /** Totals since the start (the test reads them: a burst of 1,000 is 1,000 here). */
  succeeded = 0;
  failed = 0;

  constructor(private readonly now: () => number = () => Math.floor(Date.now() / 1000)) {}

  private at(t: number): Second {
    let s = this.seconds.get(t);
    if (!s) this.seconds.set(t, (s = { succeeded: 0, failed: 0, runtimes: [], depth: null }));
    return s;
  }

  add(events: readonly SprigEvent[]): void {
    const t = this.now();
    for (const e of events) {
      if (e.type === 'task-succeeded') {
        const s = this.at(t);
        s.succeeded++;
        this.succeeded++;
        if (typeof e.runtime === 'number' && Number.isFinite(e.runtime)) s.runtimes.push(e.runtime * 1000);
      } else if (e.type === 'task-failed') {
        this.at(t).failed++;
        this.failed++;
      }
    }
  }

  setDepth(queues: readonly QueueInfo[]): void {
    this.at(this.now()).depth = queues.reduce((n, q) => n + q.waiting, 0);
  }

  /** uPlot's columns: time, succeeded/s, failed/s, p50 ms, p95 ms, depth. */
  data(): [number[], number[], number[], Array<number | null>, Array<number | null>, Array<number | null>] {
    const end = this.now();
    for (const t of this.seconds.keys()) if (t <= end - WINDOW_S) this.seconds.delete(t);
    const cols: ReturnType<ChartSeries['data']> = [[], [], [], [], [], []];
    let depth: number | null = null;
    for (let t = end - WINDOW_S + 1; t <= end; t++) {
      const s = this.seconds.get(t);
      const sorted = s ? [...s.runtimes].sort((a, b) => a - b) : [];
      if (s?.depth !== null && s?.depth !== undefined) depth = s.depth;
      cols[0].push(t);
      cols[1].push(s?.succeeded ?? 0);
      cols[2].push(s?.failed ?? 0);
      cols[3].push(quantile(sorted, 0.5));
      cols[4].push(quantile(sorted, 0.95));
      cols[5].push(depth);
    }
    return cols;
  }
}


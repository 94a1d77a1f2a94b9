/**
 * Live charts over the last minutes, drawn with uPlot (bundled, no CDN; canvas only, so the strict
 * CSP holds): tasks succeeded and failed per second, the runtime's p50 and p95 per second, and the
 * depth (waiting messages) of the queues. Fed by the event batches and the Queues view's polls;
 * redrawn once a second. Colours are the editor's chart variables, read again when the theme changes.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import type { QueueInfo } from '../../runtime/src/control/queue-info.js';
import { h, icon } from './dom.js';

/** Seconds kept and shown. */
const WINDOW_S = 300;

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

/** The editor's colour for `name` (a --vscode-* variable), or `fallback`. */
function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

export class Charts {
  readonly series = new ChartSeries();
  private readonly host = h('div', { class: 'charts' });
  readonly el = h('details', { class: 'panel charts-panel', id: 'charts' }, h('summary', {}, icon('graph-line'), ' Charts'), this.host);
  private plots: uPlot[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor() {
    this.el.addEventListener('toggle', () => (this.el.open ? this.start() : this.stop()));
    // VS Code swaps the body's class (vscode-light, vscode-dark, vscode-high-contrast) on a theme change.
    new MutationObserver(() => this.el.open && this.build()).observe(document.body, { attributes: true, attributeFilter: ['class'] });
    new ResizeObserver(() => this.resize()).observe(this.host);
  }

  private start(): void {
    this.build();
    this.timer = setInterval(() => this.draw(), 1000);
  }

  private stop(): void {
    clearInterval(this.timer);
    for (const p of this.plots) p.destroy();
    this.plots = [];
    this.host.replaceChildren();
  }

  private width(): number {
    return Math.max(160, this.host.clientWidth - 4);
  }

  private build(): void {
    for (const p of this.plots) p.destroy();
    this.host.replaceChildren();
    const fg = cssVar('--vscode-descriptionForeground', '#888');
    const grid = cssVar('--vscode-widget-border', cssVar('--vscode-editorWidget-border', 'rgba(128,128,128,0.25)'));
    const font = `11px ${cssVar('--vscode-font-family', 'sans-serif')}`;
    const axes: uPlot.Axis[] = [
      { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, font, size: 28 },
      { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, font, size: 40 },
    ];
    const data = this.series.data();
    const make = (id: string, title: string, series: uPlot.Series[], cols: number[]) => {
      const box = h('div', { class: 'chart', id });
      this.host.append(box);
      const opts: uPlot.Options = {
        title,
        width: this.width(),
        height: 110,
        series: [{}, ...series],
        axes,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
      };
      return new uPlot(opts, cols.map((c) => data[c]!) as uPlot.AlignedData, box);
    };
    const green = cssVar('--vscode-charts-green', '#89d185');
    const red = cssVar('--vscode-charts-red', '#f14c4c');
    const blue = cssVar('--vscode-charts-blue', '#3794ff');
    const orange = cssVar('--vscode-charts-orange', '#d18616');
    const purple = cssVar('--vscode-charts-purple', '#b180d7');
    this.plots = [
      make('chart-throughput', 'Tasks per second', [{ label: 'succeeded', stroke: green, width: 1.5 }, { label: 'failed', stroke: red, width: 1.5 }], [0, 1, 2]),
      make('chart-runtime', 'Runtime (ms)', [{ label: 'p50', stroke: blue, width: 1.5, spanGaps: true }, { label: 'p95', stroke: orange, width: 1.5, spanGaps: true }], [0, 3, 4]),
      make('chart-depth', 'Queue depth (waiting)', [{ label: 'waiting', stroke: purple, width: 1.5, ...(/^#[0-9a-f]{6}$/i.test(purple) ? { fill: `${purple}33` } : {}) }], [0, 5]),
    ];
  }

  private draw(): void {
    const data = this.series.data();
    const [a, b, c] = this.plots;
    a?.setData([data[0], data[1], data[2]]);
    b?.setData([data[0], data[3], data[4]] as uPlot.AlignedData);
    c?.setData([data[0], data[5]] as uPlot.AlignedData);
    this.host.setAttribute('data-succeeded', String(this.series.succeeded));
    this.host.setAttribute('data-failed', String(this.series.failed));
  }

  private resize(): void {
    for (const p of this.plots) p.setSize({ width: this.width(), height: 110 });
  }
}

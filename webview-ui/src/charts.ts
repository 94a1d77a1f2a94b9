/**
 * Live charts over the last minutes, drawn with uPlot (bundled, no CDN; canvas only, so the strict
 * CSP holds): tasks succeeded and failed per second, the runtime's p50 and p95 per second, and the
 * depth (waiting messages) of the queues. Fed by the event batches and the Queues view's polls;
 * redrawn once a second. Colours are the editor's chart variables, read again when the theme changes.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { ChartSeries } from './chart-series.js';
import { h, icon } from './dom.js';

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

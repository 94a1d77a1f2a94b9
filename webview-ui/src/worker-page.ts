/**
 * A worker's page (the panel extension/src/workers/worker-page.ts opens): its stats, registered
 * tasks with their rate and time limits, active queues and configuration, and forms for the
 * control commands. Every change goes to the extension, which sends it to this worker and posts a
 * fresh reading; the page only draws what it was told.
 */
import '@vscode/codicons/dist/codicon.css';
import './worker-page.css';
import { h, icon } from './dom.js';
import {
  isPageInfo,
  isPageReply,
  type PageControlReply,
  type PageControlRequest,
  type WorkerControlMap,
  type WorkerControlMethod,
  type WorkerPageInfo,
} from '../../extension/src/workers/worker-page-protocol.js';
import type { VsCodeApi } from './transport.js';

declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const app = document.getElementById('app')!;
let nextId = 1;
const pending = new Map<number, (r: PageControlReply) => void>();
let info: WorkerPageInfo | undefined;

const status = h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
const body = h('div', { class: 'body' });

function control<M extends WorkerControlMethod>(command: M, args: WorkerControlMap[M]): void {
  const id = nextId++;
  status.textContent = `${command}…`;
  pending.set(id, (r) => {
    status.textContent = `${command}: ${r.text}`;
    status.classList.toggle('error', !r.ok);
  });
  const m: PageControlRequest<M> = { method: 'control', id, params: { command, args } };
  vscode.postMessage(m);
}

const row = (label: string, value: unknown) => h('tr', {}, h('th', {}, label), h('td', {}, typeof value === 'string' ? value : JSON.stringify(value)));
const button = (label: string, iconName: string, onClick: () => void, extra: Record<string, string> = {}) => {
  const b = h('button', { type: 'button', ...extra }, icon(iconName), ` ${label}`);
  b.addEventListener('click', onClick);
  return b;
};
const input = (attrs: Record<string, string>) => h('input', { type: 'text', ...attrs });
/** A number from a field: '' is null (no limit), anything else must be a number >= 0. */
function limit(field: HTMLInputElement): number | null | undefined {
  const v = field.value.trim();
  if (v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}
function refuse(text: string): void {
  status.textContent = text;
  status.classList.add('error');
}

function section(title: string, ...children: Node[]): HTMLElement {
  return h('section', {}, h('h2', {}, title), ...children);
}

function poolSection(i: WorkerPageInfo): HTMLElement {
  const pool = (i.stats?.pool ?? {}) as Record<string, unknown>;
  const size = pool['max-concurrency'];
  const n = input({ id: 'pool-n', value: '1', size: '3', 'aria-label': 'How many slots' });
  const count = () => {
    const v = Number(n.value);
    if (!Number.isInteger(v) || v < 1 || v > 1000) {
      refuse('the pool changes by a whole number from 1 to 1000');
      return undefined;
    }
    return v;
  };
  const auto = (i.conf?.autoscale ?? null) as [number, number] | null;
  const max = input({ id: 'autoscale-max', value: auto ? String(auto[0]) : '', size: '3', placeholder: 'max', 'aria-label': 'Autoscale maximum' });
  const min = input({ id: 'autoscale-min', value: auto ? String(auto[1]) : '', size: '3', placeholder: 'min', 'aria-label': 'Autoscale minimum' });
  return section(
    'Pool',
    h('table', {}, row('implementation', String(pool.implementation ?? '?')), row('size', String(size ?? '?')), row('processes', pool.processes ?? []), row('autoscale', auto ? `max ${auto[0]}, min ${auto[1]}` : 'off')),
    h(
      'div',
      { class: 'form' },
      n,
      button('Grow', 'add', () => {
        const v = count();
        if (v) control('pool_grow', { n: v });
      }, { id: 'pool-grow' }),
      button('Shrink', 'remove', () => {
        const v = count();
        if (v) control('pool_shrink', { n: v });
      }, { id: 'pool-shrink' }),
    ),
    h(
      'div',
      { class: 'form' },
      max,
      min,
      button('Autoscale', 'pulse', () => {
        const a = Number(max.value);
        const b = Number(min.value || '0');
        if (!Number.isInteger(a) || !Number.isInteger(b) || a < 1 || b < 0 || b > a) return refuse('autoscale needs whole numbers max >= min >= 0, max >= 1');
        control('autoscale', { max: a, min: b });
      }, { id: 'autoscale-apply' }),
    ),
  );
}

function tasksSection(i: WorkerPageInfo): HTMLElement {
  const rates = (i.conf?.task_rate_limits ?? {}) as Record<string, number>;
  const times = (i.conf?.task_time_limits ?? {}) as Record<string, { soft: number | null; hard: number | null }>;
  const names = (i.registered ?? []).filter((n) => !n.startsWith('celery.'));
  const list = h(
    'table',
    { id: 'registered' },
    h('tr', {}, h('th', {}, 'task'), h('th', {}, 'rate limit'), h('th', {}, 'time limits (soft / hard)')),
    ...names.map((n) =>
      h('tr', { 'data-task': n }, h('td', {}, n), h('td', { class: 'rate' }, rates[n] ? `${Number(rates[n].toFixed(4))}/s` : '—'), h('td', {}, times[n] ? `${times[n].soft ?? '—'} / ${times[n].hard ?? '—'} s` : '—')),
    ),
  );
  const pick = h('select', { id: 'limit-task', 'aria-label': 'Task' }, ...names.map((n) => h('option', { value: n }, n)));
  const rate = input({ id: 'rate-value', placeholder: 'e.g. 10/s, 100/m; empty: none', size: '18', 'aria-label': 'Rate limit' });
  const soft = input({ id: 'soft-value', placeholder: 'soft s', size: '6', 'aria-label': 'Soft time limit, seconds' });
  const hard = input({ id: 'hard-value', placeholder: 'hard s', size: '6', 'aria-label': 'Hard time limit, seconds' });
  return section(
    `Registered tasks (${names.length})`,
    list,
    h(
      'div',
      { class: 'form' },
      pick,
      rate,
      button('Set rate limit', 'dashboard', () => {
        const v = rate.value.trim();
        if (v && !/^\d+(\.\d+)?(\/[smh])?$/.test(v)) return refuse(`rate limit "${v}" is not N, N/s, N/m or N/h`);
        control('rate_limit', { task_name: pick.value, rate_limit: v || null });
      }, { id: 'rate-apply' }),
    ),
    h(
      'div',
      { class: 'form' },
      soft,
      hard,
      button('Set time limits', 'watch', () => {
        const s = limit(soft);
        const x = limit(hard);
        if (s === undefined || x === undefined) return refuse('time limits are seconds >= 0 (empty: none)');
        control('time_limit', { task_name: pick.value, soft: s, hard: x });
      }, { id: 'time-apply' }),
    ),
  );
}

function render(i: WorkerPageInfo): void {
  const stats = i.stats ?? {};
  const totals = (stats.total ?? {}) as Record<string, number>;
  const header = h(
    'header',
    {},
    h('h1', {}, icon('server-process', i.online ? 'online' : 'offline'), ` ${i.hostname}`),
    h('span', { class: 'muted' }, i.online ? `read ${new Date(i.at * 1000).toLocaleTimeString()}` : 'not answering'),
    button('Refresh', 'refresh', () => vscode.postMessage({ method: 'refresh' }), { id: 'refresh' }),
    button('Shut Down', 'debug-stop', () => control('shutdown', {}), { id: 'shutdown', class: 'danger' }),
  );
  const parts: Node[] = [header];
  if (i.error) parts.push(h('p', { class: 'error' }, i.error));
  if (i.online) {
    parts.push(
      section(
        'Stats',
        h(
          'table',
          { id: 'stats' },
          row('pid', stats.pid ?? '?'),
          row('uptime', `${String(stats.uptime ?? '?')} s`),
          row('prefetch', stats.prefetch_count ?? '?'),
          row('running now', (i.active ?? []).map((t) => `${t.name}[${t.id.slice(0, 8)}]`).join(', ') || 'nothing'),
          row('tasks done', Object.entries(totals).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none yet'),
          row('broker', (stats.broker as { url?: unknown } | undefined)?.url ?? '?'),
          row('load', stats.loadavg ?? '?'),
        ),
      ),
      poolSection(i),
      tasksSection(i),
      section('Active queues', h('ul', { id: 'queues' }, ...(i.activeQueues ?? []).map((q) => h('li', {}, q)))),
      section('Configuration', h('table', { id: 'conf' }, ...Object.entries(i.conf ?? {}).filter(([k]) => !k.startsWith('task_')).map(([k, v]) => row(k, v)))),
    );
  }
  body.replaceChildren(...parts);
}

window.addEventListener('message', (e: MessageEvent) => {
  const m: unknown = e.data;
  if (isPageInfo(m)) {
    // Keep what the user typed: redraw only when the reading changed.
    if (JSON.stringify({ ...m.params, at: 0 }) === JSON.stringify(info && { ...info, at: 0 })) return;
    info = m.params;
    render(info);
  } else if (isPageReply(m)) {
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  }
});

app.append(body, status);
body.append(h('p', { class: 'muted' }, `Asking ${app.dataset.hostname ?? 'the worker'}…`));
vscode.postMessage({ method: 'ready' });

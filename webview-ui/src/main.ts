/**
 * The monitor webview: rebuilds the ClusterState from a snapshot and batched events, renders the
 * tree as a virtualized list (only the visible rows exist in the DOM) at most once per frame. The
 * flat row list is rebuilt only when the data, the filters or what is expanded changed; scrolling
 * and selection only redraw the window of visible rows.
 */
import '@vscode/codicons/dist/codicon.css';
import './monitor.css';
import { ClusterState, TASK_STATES, type TaskStateName } from '../../runtime/src/events/state.js';
import {
  isConnection,
  isEvents,
  isPaused,
  isReply,
  isReveal,
  isSnapshot,
  decodeTasks,
  type Reply,
  type RequestMap,
  type RequestMethod,
  type WebviewCommand,
} from '../../extension/src/monitor/protocol.js';
import { buildRows, parentIndex, rowTaskId, taskDescription, UNASSIGNED, workerDescription, type Filters, type Row } from './view-model.js';
import { shortId } from './format.js';
import { isUserFrame } from './traceback.js';

interface VsCodeApi {
  postMessage(m: unknown): void;
  getState(): unknown;
  setState(s: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;
const vscode = acquireVsCodeApi();

const ROW_H = 22;
const OVERSCAN = 8;

const STATE_ICON: Record<TaskStateName, string> = {
  PENDING: 'clock',
  RECEIVED: 'inbox',
  STARTED: 'loading',
  RETRY: 'history',
  SUCCESS: 'pass',
  FAILURE: 'error',
  REVOKED: 'circle-slash',
  REJECTED: 'warning',
};

// ---- state ---------------------------------------------------------------------------------

const state = new ClusterState();
const filters: { states: Set<TaskStateName>; name: string; worker: string; id: string } = { states: new Set(), name: '', worker: '', id: '' };
const collapsedWorkers = new Set<string>();
const expandedTasks = new Set<string>();
let rows: Row[] = [];
let selectedKey: string | undefined;
let paused = false;
/** A frame is requested. */
let dirty = true;
/** The row list must be rebuilt (data, filters, expansion); else a frame only moves the window. */
let rowsStale = true;
/** The status line must be redrawn. */
let statusStale = true;
/** Index of selectedKey in rows (-1: look it up again). */
let selIndex = -1;
let conn = { brokerUrl: '', connected: false, error: undefined as string | undefined };
let flash = '';
let eventsInWindow = 0;
let eventsPerSec = 0;
let nextRequest = 1;
const pendingReplies = new Map<number, { resolve: (r: Reply) => void }>();

/** Timing hook for the UI performance test (test/extension/monitor-perf.mjs); unset otherwise. */
type Probe = (kind: string, items: number, ms: number) => void;
const probe = (): Probe | undefined => (globalThis as { sprigMonitorProbe?: Probe }).sprigMonitorProbe;

// ---- DOM -----------------------------------------------------------------------------------

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') el.className = v;
    else el.setAttribute(k, v);
  }
  for (const c of children) el.append(c);
  return el;
}
const icon = (name: string, extra = '') => h('span', { class: `codicon codicon-${name} ${extra}`.trim(), 'aria-hidden': 'true' });

const app = document.getElementById('app')!;
const idInput = h('input', { type: 'search', id: 'search-id', placeholder: 'Search by task id', 'aria-label': 'Search by task id', spellcheck: 'false' });
const nameInput = h('input', { type: 'search', id: 'filter-name', placeholder: 'Filter by name', 'aria-label': 'Filter by task name', spellcheck: 'false' });
const stateSelect = h('select', { id: 'filter-state', 'aria-label': 'Filter by state' }, h('option', { value: '' }, 'All states'), ...TASK_STATES.map((s) => h('option', { value: s }, s)));
const workerSelect = h('select', { id: 'filter-worker', 'aria-label': 'Filter by worker' }, h('option', { value: '' }, 'All workers'));
const pauseBtn = h('button', { id: 'pause', class: 'icon-button', title: 'Pause', 'aria-label': 'Pause', 'aria-pressed': 'false' }, icon('debug-pause'));
const clearBtn = h('button', { id: 'clear', class: 'icon-button', title: 'Clear', 'aria-label': 'Clear the task list' }, icon('clear-all'));
const status = h('div', { id: 'status', class: 'status', role: 'status', 'aria-live': 'polite' });
const list = h('div', { id: 'list', class: 'list', role: 'tree', tabindex: '0', 'aria-label': 'Workers and tasks' });
const spacer = h('div', { class: 'spacer' });
const empty = h('div', { class: 'empty' });
list.append(spacer);
app.append(
  h('div', { class: 'toolbar' }, idInput, nameInput),
  h('div', { class: 'toolbar' }, stateSelect, workerSelect, pauseBtn, clearBtn),
  status,
  list,
  empty,
);

// ---- messaging -----------------------------------------------------------------------------

function send(m: WebviewCommand): void {
  vscode.postMessage(m);
}

function request<M extends RequestMethod>(method: M, params: RequestMap[M]['params']): Promise<Reply<M>> {
  const id = nextRequest++;
  return new Promise((resolve) => {
    pendingReplies.set(id, { resolve: resolve as (r: Reply) => void });
    vscode.postMessage({ method, id, params });
  });
}

window.addEventListener('message', (e: MessageEvent<unknown>) => {
  const t0 = performance.now();
  const m = e.data;
  if (isEvents(m)) {
    if (paused) return;
    state.applyAll(m.params.events);
    for (const [a, b] of m.params.links ?? []) state.link(a, b);
    eventsInWindow += m.params.events.length;
    invalidate();
    probe()?.('events', m.params.events.length, performance.now() - t0);
  } else if (isSnapshot(m)) {
    const s = m.params.state;
    state.setMaxTasks(m.params.maxTasks);
    state.load({ workers: s.workers, tasks: decodeTasks(s.tasks), eventCount: s.eventCount });
    setPaused(m.params.paused, false);
    conn = { brokerUrl: m.params.brokerUrl, connected: m.params.connected, error: m.params.error };
    invalidate();
    probe()?.('snapshot', s.tasks.count, performance.now() - t0);
  } else if (isConnection(m)) {
    conn = { brokerUrl: m.params.brokerUrl, connected: m.params.connected, error: m.params.error };
    invalidate('status');
  } else if (isReveal(m)) {
    reveal(m.params.taskId);
  } else if (isPaused(m)) {
    setPaused(m.params.paused, false);
  } else if (isReply(m)) {
    const p = pendingReplies.get(m.id);
    pendingReplies.delete(m.id);
    p?.resolve(m);
  }
});

// ---- rendering -----------------------------------------------------------------------------

/** Ask for a frame: 'rows' (the data or filters changed), 'status' (the status line), 'view' (scroll, selection). */
function invalidate(what: 'rows' | 'status' | 'view' = 'rows'): void {
  if (what === 'rows') rowsStale = statusStale = true;
  else if (what === 'status') statusStale = true;
  if (dirty) return;
  dirty = true;
  requestAnimationFrame(render);
}

let lastWorkerOptions = '';
function renderWorkerOptions(): void {
  const hosts = [...state.workers.keys()].sort();
  const sig = hosts.join('\n');
  if (sig === lastWorkerOptions) return;
  lastWorkerOptions = sig;
  const cur = workerSelect.value;
  workerSelect.replaceChildren(h('option', { value: '' }, 'All workers'), ...hosts.map((x) => h('option', { value: x }, x)), h('option', { value: UNASSIGNED }, 'Waiting for a worker'));
  workerSelect.value = cur;
}

function renderStatus(): void {
  const counts = state.countByState();
  const bits = TASK_STATES.filter((s) => counts[s] > 0).map((s) => `${s.toLowerCase()} ${counts[s]}`);
  const online = [...state.workers.values()].filter((w) => state.isAlive(w)).length;
  status.replaceChildren(
    h('span', { class: conn.connected ? 'ok' : 'bad', title: conn.error ?? '' }, icon(conn.connected ? 'plug' : 'debug-disconnect'), ` ${conn.brokerUrl || 'broker'}${conn.connected ? '' : conn.error ? ': ' + conn.error : ': connecting…'}`),
    h('span', {}, ` · ${online}/${state.workers.size} workers · ${state.tasks.size} tasks${bits.length ? ` (${bits.join(', ')})` : ''}`),
    h('span', {}, ` · ${eventsPerSec} ev/s`),
    paused ? h('span', { class: 'paused' }, ' · paused') : '',
    flash ? h('span', { class: 'flash' }, ` · ${flash}`) : '',
  );
}

const pool: HTMLElement[] = [];

function render(): void {
  const t0 = performance.now();
  dirty = false;
  const rebuilt = rowsStale;
  if (rowsStale) {
    rowsStale = false;
    rows = buildRows(state, { filters: filters as Filters, collapsedWorkers, expandedTasks, now: Date.now() / 1000 });
    selIndex = -1;
    renderWorkerOptions();
    spacer.style.height = `${rows.length * ROW_H}px`;
    empty.textContent = rows.length === 0 ? (state.workers.size === 0 && state.tasks.size === 0 ? 'No events yet. Start a worker (Sprig: Start Worker) or enqueue a task.' : 'No task matches the filters.') : '';
    empty.hidden = rows.length !== 0;
  }
  if (statusStale) {
    statusStale = false;
    renderStatus();
  }
  if (selIndex < 0 || rows[selIndex]?.key !== selectedKey) selIndex = selectedKey ? rows.findIndex((r) => r.key === selectedKey) : -1;
  if (selIndex < 0 && rows.length) selIndex = 0;
  selectedKey = rows[selIndex]?.key;
  list.setAttribute('aria-activedescendant', selectedKey ? domId(selectedKey) : '');
  // The list got shorter (a filter): do not leave the window past its end.
  const maxTop = Math.max(0, rows.length * ROW_H - list.clientHeight);
  if (list.scrollTop > maxTop) list.scrollTop = maxTop;
  const top = Math.min(list.scrollTop, maxTop);
  const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((top + list.clientHeight) / ROW_H) + OVERSCAN);
  let used = 0;
  for (let i = first; i < last; i++) {
    let el = pool[used];
    if (!el) {
      el = h('div', { class: 'row', role: 'treeitem' });
      pool.push(el);
      list.append(el);
    }
    used++;
    fillRow(el, rows[i]!, i);
  }
  for (let i = used; i < pool.length; i++) {
    const el = pool[i]!;
    if (el.hidden) continue;
    el.hidden = true;
    el.classList.remove('selected');
    el.removeAttribute('id');
    el.removeAttribute('aria-selected');
    delete el.dataset.state;
    delete el.dataset.taskId;
  }
  probe()?.(rebuilt ? 'render-rows' : 'render-view', last - first, performance.now() - t0);
}

function domId(key: string): string {
  return `row-${key.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

function fillRow(el: HTMLElement, r: Row, index: number): void {
  el.hidden = false;
  el.style.transform = `translateY(${index * ROW_H}px)`;
  el.id = domId(r.key);
  el.dataset.index = String(index);
  el.dataset.kind = r.kind;
  el.setAttribute('aria-level', String(r.depth + 1));
  el.setAttribute('aria-selected', String(r.key === selectedKey));
  el.classList.toggle('selected', r.key === selectedKey);
  el.style.paddingLeft = `${4 + r.depth * 16}px`;
  delete el.dataset.state;
  delete el.dataset.taskId;
  delete el.dataset.worker;
  el.removeAttribute('aria-expanded');
  el.removeAttribute('aria-label');
  el.replaceChildren();
  if (r.kind === 'worker') {
    const w = r.worker;
    el.dataset.worker = r.hostname;
    el.setAttribute('aria-expanded', String(r.expanded));
    const desc = workerDescription(w, r.alive, Date.now() / 1000);
    el.append(
      icon(r.expanded ? 'chevron-down' : 'chevron-right', 'twistie'),
      icon(w ? 'server-process' : 'inbox', w ? (r.alive ? 'worker-online' : 'worker-offline') : 'muted'),
      h('span', { class: 'label' }, r.hostname === UNASSIGNED ? 'Waiting for a worker' : r.hostname),
      h('span', { class: 'badge' }, String(r.count)),
      h('span', { class: 'desc' }, desc),
    );
  } else if (r.kind === 'task') {
    const t = r.task;
    el.dataset.state = t.state;
    el.dataset.taskId = t.uuid;
    el.setAttribute('aria-expanded', String(r.expanded));
    const stateIcon = icon(STATE_ICON[t.state], `state state-${t.state.toLowerCase()}${t.state === 'STARTED' ? ' codicon-modifier-spin' : ''}`);
    stateIcon.title = t.state;
    el.append(
      icon(r.expanded ? 'chevron-down' : 'chevron-right', 'twistie'),
      stateIcon,
      h('span', { class: 'label' }, t.name ?? '(unknown task)'),
      h('span', { class: 'id' }, shortId(t.uuid)),
      h('span', { class: 'state-text' }, t.state),
      h('span', { class: 'desc' }, taskDescription(t)),
      h(
        'span',
        { class: 'actions' },
        h('button', { class: 'icon-button action-retry', title: 'Retry (r): enqueue again with the same arguments', 'aria-label': 'Retry', tabindex: '-1', 'data-action': 'retry' }, icon('refresh')),
        h('button', { class: 'icon-button action-revoke', title: 'Revoke (Delete)', 'aria-label': 'Revoke', tabindex: '-1', 'data-action': 'revoke' }, icon('circle-slash')),
      ),
    );
    el.setAttribute('aria-label', `${t.name ?? 'task'} ${t.state} ${t.uuid}`);
  } else if (r.kind === 'detail') {
    el.dataset.taskId = r.taskId;
    const value = r.linkTask
      ? h('a', { class: 'task-link', href: '#', 'data-task': r.linkTask, tabindex: '-1' }, r.value)
      : h('span', { class: 'value', title: r.value }, r.value);
    el.append(h('span', { class: 'detail-label' }, r.label), value);
  } else {
    el.dataset.taskId = r.taskId;
    if (r.loc) {
      const a = h('a', { class: `frame-link${isUserFrame(r.loc) ? ' user-frame' : ''}`, href: '#', tabindex: '-1', title: `Open ${r.loc.file}:${r.loc.line}:${r.loc.column}` }, r.text.trim());
      a.dataset.file = r.loc.file;
      a.dataset.line = String(r.loc.line);
      a.dataset.column = String(r.loc.column);
      el.append(h('span', { class: 'frame' }, a));
    } else el.append(h('span', { class: 'frame' }, r.text.trim()));
  }
}

// ---- actions -------------------------------------------------------------------------------

function setFlash(text: string): void {
  flash = text;
  invalidate('status');
  setTimeout(() => {
    if (flash === text) {
      flash = '';
      invalidate('status');
    }
  }, 5000);
}

async function retry(taskId: string): Promise<void> {
  const r = await request('retryTask', { taskId });
  if (r.ok && r.result) {
    setFlash(`retried ${shortId(taskId)} as ${shortId(r.result.newTaskId)}`);
  } else setFlash(`retry failed: ${r.error ?? ''}`);
}

async function revoke(taskId: string): Promise<void> {
  const r = await request('revokeTask', { taskId });
  setFlash(r.ok ? `revoke sent for ${shortId(taskId)}` : `revoke failed: ${r.error ?? ''}`);
}

function toggle(r: Row): void {
  if (r.kind === 'worker') {
    if (collapsedWorkers.has(r.hostname)) collapsedWorkers.delete(r.hostname);
    else collapsedWorkers.add(r.hostname);
  } else if (r.kind === 'task') {
    if (expandedTasks.has(r.task.uuid)) expandedTasks.delete(r.task.uuid);
    else expandedTasks.add(r.task.uuid);
  } else if (r.kind === 'frame' && r.loc) {
    send({ method: 'openLocation', params: r.loc });
  } else if (r.kind === 'detail' && r.linkTask) {
    reveal(r.linkTask);
  }
  invalidate();
}

function select(index: number, scroll = true): void {
  if (!rows.length) return;
  const i = Math.max(0, Math.min(rows.length - 1, index));
  selectedKey = rows[i]!.key;
  if (scroll) {
    const top = i * ROW_H;
    if (top < list.scrollTop) list.scrollTop = top;
    else if (top + ROW_H > list.scrollTop + list.clientHeight) list.scrollTop = top + ROW_H - list.clientHeight;
  }
  selIndex = i;
  invalidate('view');
}

function reveal(taskId: string): void {
  const t = state.tasks.get(taskId);
  if (!t) {
    filters.id = taskId;
    idInput.value = taskId;
  } else {
    collapsedWorkers.delete(t.worker ?? UNASSIGNED);
    if (!filters.states.has(t.state) && filters.states.size) filters.states.clear();
    if (filters.worker && filters.worker !== (t.worker ?? UNASSIGNED)) filters.worker = '';
  }
  selectedKey = `t:${taskId}`;
  rowsStale = true;
  render();
  const i = rows.findIndex((r) => r.key === selectedKey);
  if (i >= 0) {
    list.scrollTop = Math.max(0, i * ROW_H - list.clientHeight / 3);
    render();
  }
  list.focus();
}

function setPaused(p: boolean, notify: boolean): void {
  paused = p;
  pauseBtn.replaceChildren(icon(p ? 'debug-continue' : 'debug-pause'));
  pauseBtn.title = p ? 'Resume' : 'Pause';
  pauseBtn.setAttribute('aria-label', pauseBtn.title);
  pauseBtn.setAttribute('aria-pressed', String(p));
  if (notify) send({ method: 'setPaused', params: { paused: p } });
  invalidate('status');
}

// ---- input ---------------------------------------------------------------------------------

list.addEventListener('scroll', () => invalidate('view'), { passive: true });
new ResizeObserver(() => invalidate('view')).observe(list);

list.addEventListener('click', (e) => {
  const target = e.target as HTMLElement;
  const rowEl = target.closest<HTMLElement>('.row');
  if (!rowEl) return;
  const index = Number(rowEl.dataset.index);
  const r = rows[index];
  if (!r) return;
  selectedKey = r.key;
  const action = target.closest<HTMLElement>('[data-action]')?.dataset.action;
  const frame = target.closest<HTMLAnchorElement>('a.frame-link');
  const link = target.closest<HTMLAnchorElement>('a.task-link');
  if (action && r.kind === 'task') {
    e.preventDefault();
    void (action === 'retry' ? retry(r.task.uuid) : revoke(r.task.uuid));
  } else if (frame) {
    e.preventDefault();
    send({ method: 'openLocation', params: { file: frame.dataset.file!, line: Number(frame.dataset.line), column: Number(frame.dataset.column) } });
  } else if (link) {
    e.preventDefault();
    reveal(link.dataset.task!);
  } else if (r.kind === 'worker' || r.kind === 'task') toggle(r);
  list.focus();
  invalidate('view');
});

list.addEventListener('keydown', (e) => {
  const i = rows.findIndex((r) => r.key === selectedKey);
  const r = rows[i];
  const page = Math.max(1, Math.floor(list.clientHeight / ROW_H) - 1);
  switch (e.key) {
    case 'ArrowDown':
      select(i + 1);
      break;
    case 'ArrowUp':
      select(i - 1);
      break;
    case 'PageDown':
      select(i + page);
      break;
    case 'PageUp':
      select(i - page);
      break;
    case 'Home':
      select(0);
      break;
    case 'End':
      select(rows.length - 1);
      break;
    case 'ArrowRight':
      if (r && (r.kind === 'worker' || r.kind === 'task') && !r.expanded) toggle(r);
      else select(i + 1);
      break;
    case 'ArrowLeft':
      if (r && (r.kind === 'worker' || r.kind === 'task') && r.expanded) toggle(r);
      else select(parentIndex(rows, i));
      break;
    case 'Enter':
    case ' ':
      if (r) toggle(r);
      break;
    case 'r':
    case 'R': {
      const id = rowTaskId(r);
      if (id) void retry(id);
      break;
    }
    case 'Delete': {
      const id = rowTaskId(r);
      if (id) void revoke(id);
      break;
    }
    default:
      return;
  }
  e.preventDefault();
});

let inputTimer: ReturnType<typeof setTimeout> | undefined;
const onFilter = () => {
  clearTimeout(inputTimer);
  inputTimer = setTimeout(() => {
    filters.id = idInput.value;
    filters.name = nameInput.value;
    filters.worker = workerSelect.value;
    filters.states = new Set(stateSelect.value ? [stateSelect.value as TaskStateName] : []);
    invalidate();
  }, 60);
};
idInput.addEventListener('input', onFilter);
nameInput.addEventListener('input', onFilter);
stateSelect.addEventListener('change', onFilter);
workerSelect.addEventListener('change', onFilter);
pauseBtn.addEventListener('click', () => setPaused(!paused, true));
clearBtn.addEventListener('click', () => {
  state.clear();
  expandedTasks.clear();
  send({ method: 'clear' });
  invalidate();
});

// Heartbeat ages and events/s move on even without events.
setInterval(() => {
  eventsPerSec = eventsInWindow;
  eventsInWindow = 0;
  invalidate();
}, 1000);

dirty = false;
invalidate();
send({ method: 'ready' });

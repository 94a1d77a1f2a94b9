/**
 * The tree as a virtualized list: a spacer as tall as every row, and a pool of row elements, only
 * as many as fill the window (plus an overscan), placed with transforms and refilled from the rows
 * they show now. Scrolling and resizing only ask for a frame; the frame draws (render).
 */
import type { TaskInfo, TaskStateName } from '../../runtime/src/events/state.js';
import { h, icon } from './dom.js';
import { shortId } from './format.js';
import { isUserFrame } from './traceback.js';
import { splitHostname, taskDescription, UNASSIGNED, workerDescription, workerFigures, type Row } from './view-model.js';
import type { ViewState } from './view-state.js';
import { stopActionFor } from '../../extension/src/tasks/stop-action.js';

/** Row height, px (monitor.css: .row). */
const ROW_H = 22;
/** Rows drawn above and below the window. */
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

export class TaskList {
  readonly el = h('div', { id: 'list', class: 'list', role: 'tree', tabindex: '0', 'aria-label': 'Workers and tasks' });
  /** Said instead of the list when it has no rows. */
  readonly empty = h('div', { class: 'empty' });
  private readonly spacer = h('div', { class: 'spacer' });
  private readonly pool: HTMLElement[] = [];

  constructor(private readonly view: ViewState) {
    this.el.append(this.spacer);
    this.el.addEventListener('scroll', () => view.invalidate('view'), { passive: true });
    new ResizeObserver(() => view.invalidate('view')).observe(this.el);
  }

  /** After the rows were rebuilt: the scroll height, and the empty message. */
  layout(): void {
    const { rows, cluster } = this.view;
    this.spacer.style.height = `${rows.length * ROW_H}px`;
    this.empty.textContent = rows.length === 0 ? (cluster.workers.size === 0 && cluster.tasks.size === 0 ? 'No events yet. Start a worker (Sprig: Start Worker) or enqueue a task.' : `No task matches ${this.view.queryError ? 'the filters' : 'the search and filters'}.`) : '';
    this.empty.hidden = rows.length !== 0;
  }

  /** Draws the rows in the window; returns how many. */
  render(): number {
    const list = this.el;
    const rows = this.view.rows;
    const selectedKey = this.view.selectedKey;
    const pool = this.pool;
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
      fillRow(el, rows[i]!, i, selectedKey);
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
    return last - first;
  }

  /** The row a click landed in. */
  rowAt(target: Element): Row | undefined {
    const rowEl = target.closest<HTMLElement>('.row');
    return rowEl ? this.view.rows[Number(rowEl.dataset.index)] : undefined;
  }

  /** Rows a Page Up / Page Down moves by. */
  pageRows(): number {
    return Math.max(1, Math.floor(this.el.clientHeight / ROW_H) - 1);
  }

  /** Scrolls just enough for row `index` to be in the window. */
  scrollIntoView(index: number): void {
    const list = this.el;
    const top = index * ROW_H;
    if (top < list.scrollTop) list.scrollTop = top;
    else if (top + ROW_H > list.scrollTop + list.clientHeight) list.scrollTop = top + ROW_H - list.clientHeight;
  }

  /** Scrolls row `index` to a third of the window's height (a revealed task). */
  scrollToThird(index: number): void {
    this.el.scrollTop = Math.max(0, index * ROW_H - this.el.clientHeight / 3);
  }

  focus(): void {
    this.el.focus();
  }
}

/** A running task's last progress report as a bar (done/total), or its custom state when it has no total. */
function progressBar(t: TaskInfo): HTMLElement[] {
  const p = t.progress;
  if (!p || READY.has(t.state)) return [];
  if (p.done === null || !p.total) return [h('span', { class: 'progress-state', title: p.meta ?? p.state }, p.state)];
  const f = Math.max(0, Math.min(1, p.done / p.total));
  const pct = Math.floor(f * 100);
  const fill = h('span', { class: 'progress-fill' });
  fill.style.width = `${f * 100}%`;
  const bar = h('span', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': String(p.total), 'aria-valuenow': String(p.done), 'aria-label': `${p.state} ${pct}%`, title: `${p.state}: ${p.done} of ${p.total}${p.meta ? `\n${p.meta}` : ''}` }, fill);
  return [bar, h('span', { class: 'progress-text' }, `${pct}%`)];
}

const READY: ReadonlySet<TaskStateName> = new Set(['SUCCESS', 'FAILURE', 'REVOKED', 'REJECTED']);

function domId(key: string): string {
  return `row-${key.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

function fillRow(el: HTMLElement, r: Row, index: number, selectedKey: string | undefined): void {
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
  delete el.dataset.canvas;
  el.removeAttribute('aria-expanded');
  el.removeAttribute('aria-label');
  el.removeAttribute('title');
  el.replaceChildren();
  if (r.kind === 'worker') {
    const w = r.worker;
    el.dataset.worker = r.hostname;
    el.setAttribute('aria-expanded', String(r.expanded));
    const now = Date.now() / 1000;
    const f = workerFigures(w, r.alive, now);
    // A narrow side bar (monitor.css, container queries): the node name stays whole, the host part
    // shortens, the figures go short and load/heartbeat go.
    const [node, host] = splitHostname(r.hostname);
    const label = r.hostname === UNASSIGNED ? h('span', { class: 'label' }, 'Waiting for a worker') : h('span', { class: 'label worker-name' }, h('span', { class: 'node' }, node), h('span', { class: 'host' }, host));
    el.title = `${r.hostname === UNASSIGNED ? 'Waiting for a worker' : r.hostname}\n${workerDescription(w, r.alive, now)}`;
    el.append(
      icon(r.expanded ? 'chevron-down' : 'chevron-right', 'twistie'),
      icon(w ? 'server-process' : 'inbox', w ? (r.alive ? 'worker-online' : 'worker-offline') : 'muted'),
      label,
      h('span', { class: 'badge' }, String(r.count)),
    );
    if (f.reload) el.append(h('span', { class: 'desc reload-error' }, f.reload));
    el.append(h('span', { class: 'stats' }, f.stats), h('span', { class: 'stats-short' }, f.short), h('span', { class: 'desc extra' }, f.extra));
    if (r.hostname !== UNASSIGNED) {
      el.append(h('span', { class: 'actions' }, h('button', { class: 'icon-button action-worker-page', title: "Worker page: stats, registered tasks, queues, config; pool size, autoscale, rate and time limits, shutdown", 'aria-label': 'Worker page', tabindex: '-1', 'data-action': 'worker-page' }, icon('dashboard'))));
    }
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
      ...progressBar(t),
      h('span', { class: 'desc' }, taskDescription(t, Date.now() / 1000)),
      h(
        'span',
        { class: 'actions' },
        h('button', { class: 'icon-button action-retry', title: 'Retry (r): enqueue again with the same arguments', 'aria-label': 'Retry', tabindex: '-1', 'data-action': 'retry' }, icon('refresh')),
        h('button', { class: 'icon-button action-debug', title: 'Debug: run it here under the debugger with these exact arguments', 'aria-label': 'Debug', tabindex: '-1', 'data-action': 'debug' }, icon('debug-alt')),
        h('button', { class: 'icon-button action-edit', title: 'Edit and run: its arguments as JSON, changed, then enqueued', 'aria-label': 'Edit and run', tabindex: '-1', 'data-action': 'edit' }, icon('edit')),
        ...stopButton(t.state),
      ),
    );
    el.setAttribute('aria-label', `${t.name ?? 'task'} ${t.state} ${t.uuid}`);
  } else if (r.kind === 'detail') {
    el.dataset.taskId = r.taskId;
    if (r.canvas) el.dataset.canvas = 'true';
    const value = r.linkTask
      ? h('a', { class: 'task-link', href: '#', 'data-task': r.linkTask, tabindex: '-1' }, r.value)
      : h('span', { class: r.repr ? 'value repr' : 'value', title: r.repr ? `${r.value}\n(the Python repr the event carried: it does not read back as JSON exactly)` : r.value }, r.value);
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

/** Revoke for a task not started yet, Terminate (asks first) for a running one, none once it ended. */
function stopButton(state: TaskStateName): HTMLElement[] {
  const stop = stopActionFor(state);
  if (stop === 'revoke') return [h('button', { class: 'icon-button action-revoke', title: 'Revoke (Delete): it has not started; the worker discards it', 'aria-label': 'Revoke', tabindex: '-1', 'data-action': 'revoke' }, icon('circle-slash'))];
  if (stop === 'terminate') return [h('button', { class: 'icon-button action-terminate', title: 'Terminate (Delete): stop it while it runs (asks first)', 'aria-label': 'Terminate', tabindex: '-1', 'data-action': 'terminate' }, icon('debug-stop'))];
  return [];
}

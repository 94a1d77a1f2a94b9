/**
 * The two toolbar rows: the id search and the name filter; the state and worker filters, pause and
 * clear. Typing and choosing set the view's filters (debounced); the buttons call their handlers.
 */
import { TASK_STATES, type ClusterState } from '../../runtime/src/events/state.js';
import { h, icon } from './dom.js';
import { UNASSIGNED } from './view-model.js';
import type { ViewState } from './view-state.js';

/** Typing faster than this applies the filters once. */
const FILTER_DEBOUNCE_MS = 60;

export interface ToolbarHandlers {
  togglePause(): void;
  clear(): void;
  /** Retry every FAILURE the filters show (the extension asks to confirm the count). */
  retryAllFailed?(): void;
}

export class Toolbar {
  private readonly idInput = h('input', { type: 'search', id: 'search-id', placeholder: 'Search by task id', 'aria-label': 'Search by task id', spellcheck: 'false' });
  // The search box: a name, free text, or a query (runtime/src/events/query.ts).
  private readonly nameInput = h('input', { type: 'search', id: 'filter-name', placeholder: 'Search: name:add state:FAILURE,RETRY args:"card"', 'aria-label': 'Search tasks: a name, or a query such as name:add state:FAILURE,RETRY worker:w1 args:"card"', title: 'Search: free text, or name: state: (several: FAILURE,RETRY) worker: args: kwargs: result: exception: id: queue: parent: root: — quote values with spaces, -field: excludes', spellcheck: 'false' });
  private readonly queryError = h('div', { id: 'query-error', class: 'query-error', role: 'alert', hidden: '' });
  private readonly retryAllBtn = h('button', { id: 'retry-all', class: 'icon-button', title: 'Retry every FAILURE the filters show (asks first)', 'aria-label': 'Retry all failures that match the filter' }, icon('run-all'));
  private readonly stateSelect = h('select', { id: 'filter-state', 'aria-label': 'Filter by state' }, h('option', { value: '' }, 'All states'), ...TASK_STATES.map((s) => h('option', { value: s }, s)));
  private readonly workerSelect = h('select', { id: 'filter-worker', 'aria-label': 'Filter by worker' }, h('option', { value: '' }, 'All workers'));
  private readonly pauseBtn = h('button', { id: 'pause', class: 'icon-button', title: 'Pause', 'aria-label': 'Pause', 'aria-pressed': 'false' }, icon('debug-pause'));
  private readonly clearBtn = h('button', { id: 'clear', class: 'icon-button', title: 'Clear', 'aria-label': 'Clear the task list' }, icon('clear-all'));
  /** The toolbar rows, in order. */
  readonly els: readonly HTMLElement[] = [h('div', { class: 'toolbar' }, this.idInput, this.nameInput), h('div', { class: 'toolbar' }, this.stateSelect, this.workerSelect, this.pauseBtn, this.clearBtn, this.retryAllBtn), this.queryError];
  private inputTimer: ReturnType<typeof setTimeout> | undefined;
  /** The worker hosts the worker filter lists now, one a line. */
  private workerOptions = '';

  constructor(private readonly view: ViewState) {
    const onFilter = () => {
      clearTimeout(this.inputTimer);
      this.inputTimer = setTimeout(() => this.applyFilters(), FILTER_DEBOUNCE_MS);
    };
    this.idInput.addEventListener('input', onFilter);
    this.nameInput.addEventListener('input', onFilter);
    this.stateSelect.addEventListener('change', onFilter);
    this.workerSelect.addEventListener('change', onFilter);
  }

  bind(on: ToolbarHandlers): void {
    this.pauseBtn.addEventListener('click', () => on.togglePause());
    this.clearBtn.addEventListener('click', () => on.clear());
    this.retryAllBtn.addEventListener('click', () => on.retryAllFailed?.());
  }

  /** The query's error under the toolbar, or nothing. */
  renderQueryError(): void {
    const e = this.view.queryError;
    if (this.queryError.textContent !== e) this.queryError.textContent = e;
    this.queryError.hidden = !e;
    this.nameInput.classList.toggle('invalid', !!e);
  }

  /** The worker filter lists the workers the cluster knows (redrawn only when they changed). */
  renderWorkerOptions(cluster: ClusterState): void {
    const hosts = [...cluster.workers.keys()].sort();
    const sig = hosts.join('\n');
    if (sig === this.workerOptions) return;
    this.workerOptions = sig;
    const cur = this.workerSelect.value;
    this.workerSelect.replaceChildren(h('option', { value: '' }, 'All workers'), ...hosts.map((x) => h('option', { value: x }, x)), h('option', { value: UNASSIGNED }, 'Waiting for a worker'));
    this.workerSelect.value = cur;
  }

  showPaused(paused: boolean): void {
    const b = this.pauseBtn;
    b.replaceChildren(icon(paused ? 'debug-continue' : 'debug-pause'));
    b.title = paused ? 'Resume' : 'Pause';
    b.setAttribute('aria-label', b.title);
    b.setAttribute('aria-pressed', String(paused));
  }

  /** Puts a task id in the search box (a task revealed before this monitor holds it). */
  showIdSearch(taskId: string): void {
    this.idInput.value = taskId;
  }

  private applyFilters(): void {
    const state = this.stateSelect.value;
    // The name filter is now the query's free text (a bare name still finds tasks by name).
    this.view.setFilters({ id: this.idInput.value, name: '', worker: this.workerSelect.value, state: TASK_STATES.find((s) => s === state) });
    this.view.setQuery(this.nameInput.value);
  }
}

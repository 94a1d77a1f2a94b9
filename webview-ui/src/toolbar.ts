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
}

export class Toolbar {
  private readonly idInput = h('input', { type: 'search', id: 'search-id', placeholder: 'Search by task id', 'aria-label': 'Search by task id', spellcheck: 'false' });
  private readonly nameInput = h('input', { type: 'search', id: 'filter-name', placeholder: 'Filter by name', 'aria-label': 'Filter by task name', spellcheck: 'false' });
  private readonly stateSelect = h('select', { id: 'filter-state', 'aria-label': 'Filter by state' }, h('option', { value: '' }, 'All states'), ...TASK_STATES.map((s) => h('option', { value: s }, s)));
  private readonly workerSelect = h('select', { id: 'filter-worker', 'aria-label': 'Filter by worker' }, h('option', { value: '' }, 'All workers'));
  private readonly pauseBtn = h('button', { id: 'pause', class: 'icon-button', title: 'Pause', 'aria-label': 'Pause', 'aria-pressed': 'false' }, icon('debug-pause'));
  private readonly clearBtn = h('button', { id: 'clear', class: 'icon-button', title: 'Clear', 'aria-label': 'Clear the task list' }, icon('clear-all'));
  /** The toolbar rows, in order. */
  readonly els: readonly HTMLElement[] = [h('div', { class: 'toolbar' }, this.idInput, this.nameInput), h('div', { class: 'toolbar' }, this.stateSelect, this.workerSelect, this.pauseBtn, this.clearBtn)];
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
    this.view.setFilters({ id: this.idInput.value, name: this.nameInput.value, worker: this.workerSelect.value, state: TASK_STATES.find((s) => s === state) });
  }
}

/**
 * Everything the monitor knows and shows, in one object: the ClusterState rebuilt from the
 * extension's snapshot and events, the filters, what is collapsed or expanded, the selection, the
 * pause, the connection and the status line's figures, and what the next frame has to redraw.
 * A change goes through a method, which asks for the frame it needs (`invalidate`). No DOM: the
 * unit tests drive it directly.
 */
import { ClusterState, type ClusterSnapshot, type TaskStateName } from '../../runtime/src/events/state.js';
import type { SprigEvent } from '../../runtime/src/events/types.js';
import { buildRows, matches, UNASSIGNED, type Row, type TaskRow, type TreeOptions, type WorkerRow } from './view-model.js';
import { isEmptyQuery, parseTaskQuery, type TaskQuery } from '../../runtime/src/events/query.js';

/** What a frame redraws: 'rows' (the data or filters changed), 'status' (the status line), 'view' (scroll, selection). */
export type Invalidation = 'rows' | 'status' | 'view';

export interface Connection {
  brokerUrl: string;
  connected: boolean;
  error?: string;
}

export class ViewState {
  readonly cluster = new ClusterState();
  private readonly filters: { states: Set<TaskStateName>; name: string; worker: string; id: string; query?: TaskQuery } = { states: new Set(), name: '', worker: '', id: '' };
  private _queryError = '';
  private readonly collapsedWorkers = new Set<string>();
  private readonly expandedTasks = new Set<string>();
  private readonly tree: TreeOptions = { filters: this.filters, collapsedWorkers: this.collapsedWorkers, expandedTasks: this.expandedTasks, now: 0 };
  private _rows: Row[] = [];
  private _selectedKey: string | undefined;
  /** Index of the selected key in rows (-1: look it up again). */
  private selIndex = -1;
  private _paused = false;
  private _connection: Readonly<Connection> = { brokerUrl: '', connected: false, error: undefined };
  private _flash = '';
  private eventsInWindow = 0;
  private _eventsPerSec = 0;
  /** A frame is requested (none until start()). */
  private dirty = true;
  /** The row list must be rebuilt (data, filters, expansion); else a frame only moves the window. */
  private rowsStale = true;
  /** The status line must be redrawn. */
  private statusStale = true;

  /** `requestFrame` schedules one call of the frame (requestAnimationFrame in the webview). */
  constructor(private readonly requestFrame: () => void) {}

  get rows(): readonly Row[] {
    return this._rows;
  }
  get selectedKey(): string | undefined {
    return this._selectedKey;
  }
  get paused(): boolean {
    return this._paused;
  }
  get connection(): Readonly<Connection> {
    return this._connection;
  }
  /** A short message on the status line (the outcome of retry, revoke), '' for none. */
  get flash(): string {
    return this._flash;
  }
  /** Why the search box's query does not parse ('' when it does). */
  get queryError(): string {
    return this._queryError;
  }
  /** Events applied over the last second. */
  get eventsPerSec(): number {
    return this._eventsPerSec;
  }

  // ---- frames ------------------------------------------------------------------------------

  /** Asks for a frame that redraws at least `what`; one frame at most is pending. */
  invalidate(what: Invalidation = 'rows'): void {
    if (what === 'rows') this.rowsStale = this.statusStale = true;
    else if (what === 'status') this.statusStale = true;
    if (this.dirty) return;
    this.dirty = true;
    this.requestFrame();
  }

  /** The UI is built: the first frame (everything). */
  start(): void {
    this.dirty = false;
    this.invalidate();
  }

  /**
   * A frame runs: later changes ask for the next one. Rebuilds the rows if they went stale (`now`:
   * seconds since the epoch, for the workers' liveness) and keeps the selection on its row wherever
   * the row moved, or on the first row when it is gone. Returns whether the rows were rebuilt.
   */
  beginFrame(now: number): boolean {
    this.dirty = false;
    const rebuild = this.rowsStale;
    if (rebuild) {
      this.rowsStale = false;
      this.tree.now = now;
      this._rows = buildRows(this.cluster, this.tree);
      this.selIndex = -1;
    }
    const rows = this._rows;
    if (this.selIndex < 0 || rows[this.selIndex]?.key !== this._selectedKey) this.selIndex = this._selectedKey ? indexOfKey(rows, this._selectedKey) : -1;
    if (this.selIndex < 0 && rows.length) this.selIndex = 0;
    this._selectedKey = rows[this.selIndex]?.key;
    return rebuild;
  }

  /** True once after the status line went stale. */
  takeStatusStale(): boolean {
    const stale = this.statusStale;
    this.statusStale = false;
    return stale;
  }

  // ---- data --------------------------------------------------------------------------------

  applyEvents(events: readonly SprigEvent[], links: ReadonlyArray<readonly [string, string]> = []): void {
    this.cluster.applyAll(events);
    for (const [a, b] of links) this.cluster.link(a, b);
    this.eventsInWindow += events.length;
    this.invalidate();
  }

  load(maxTasks: number, snapshot: ClusterSnapshot): void {
    this.cluster.setMaxTasks(maxTasks);
    this.cluster.load(snapshot);
    this.invalidate();
  }

  /** Forgets every task (the workers stay) and what was expanded. */
  clear(): void {
    this.cluster.clear();
    this.expandedTasks.clear();
    this.invalidate();
  }

  setConnection(c: Readonly<Connection>): void {
    this._connection = { brokerUrl: c.brokerUrl, connected: c.connected, error: c.error };
    this.invalidate('status');
  }

  setPaused(paused: boolean): void {
    this._paused = paused;
    this.invalidate('status');
  }

  /** Once a second: the events/s figure; heartbeat ages move on even without events. */
  tick(): void {
    this._eventsPerSec = this.eventsInWindow;
    this.eventsInWindow = 0;
    this.invalidate();
  }

  /** Shows `text` on the status line for `ms`, unless another flash replaced it. */
  showFlash(text: string, ms = 5000): void {
    this._flash = text;
    this.invalidate('status');
    setTimeout(() => {
      if (this._flash === text) {
        this._flash = '';
        this.invalidate('status');
      }
    }, ms);
  }

  // ---- filters, expansion, selection -------------------------------------------------------

  /** `state` '' (or undefined): every state. */
  setFilters(f: { id: string; name: string; worker: string; state: TaskStateName | '' | undefined }): void {
    this.filters.id = f.id;
    this.filters.name = f.name;
    this.filters.worker = f.worker;
    this.filters.states = new Set(f.state ? [f.state] : []);
    this.invalidate();
  }

  /**
   * The search box (runtime/src/events/query.ts: `name:charge state:FAILURE,RETRY args:"card"`).
   * Text that does not parse leaves the last good query in force and says why (queryError).
   */
  setQuery(text: string): void {
    const r = parseTaskQuery(text);
    if (r.ok) {
      this._queryError = '';
      this.filters.query = isEmptyQuery(r.query) ? undefined : r.query;
    } else this._queryError = `${r.error} (at character ${r.at + 1})`;
    this.invalidate();
  }

  /** Ids of the tasks the filters show that are in `state`, newest first (Retry all FAILURE). */
  matchingTaskIds(state: TaskStateName): string[] {
    const f = this.filters;
    const nameLower = f.name.trim().toLowerCase();
    const idLower = f.id.trim().toLowerCase();
    const out: string[] = [];
    for (const t of this.cluster.tasks.values()) if (t.state === state && matches(t, f, nameLower, idLower)) out.push(t.uuid);
    return out.reverse();
  }

  /** Collapses or expands a worker or a task row. */
  toggleExpanded(r: WorkerRow | TaskRow): void {
    const set = r.kind === 'worker' ? this.collapsedWorkers : this.expandedTasks;
    const key = r.kind === 'worker' ? r.hostname : r.task.uuid;
    if (set.has(key)) set.delete(key);
    else set.add(key);
    this.invalidate();
  }

  /** Index of the selected row in rows, -1 for none. */
  selectedIndex(): number {
    const key = this._selectedKey;
    if (key === undefined) return -1;
    if (this._rows[this.selIndex]?.key === key) return this.selIndex;
    return indexOfKey(this._rows, key);
  }

  /** Selects the row at `index` (clamped to the list); returns its index, -1 when there are no rows. */
  select(index: number): number {
    const rows = this._rows;
    if (!rows.length) return -1;
    const i = Math.max(0, Math.min(rows.length - 1, index));
    this._selectedKey = rows[i]!.key;
    this.selIndex = i;
    this.invalidate('view');
    return i;
  }

  /** Selects the row of `key` (a click: the row is on screen). */
  selectKey(key: string): void {
    this._selectedKey = key;
    this.invalidate('view');
  }

  /**
   * Selects a task and lifts what would hide it: its worker's collapse, a state or worker filter
   * it does not pass. A task this monitor does not hold becomes the id search instead (it may come
   * with the next events). Returns whether the task is known. The caller draws at once.
   */
  revealTask(taskId: string): boolean {
    const t = this.cluster.tasks.get(taskId);
    if (!t) {
      this.filters.id = taskId;
    } else {
      this.collapsedWorkers.delete(t.worker ?? UNASSIGNED);
      if (!this.filters.states.has(t.state) && this.filters.states.size) this.filters.states.clear();
      if (this.filters.worker && this.filters.worker !== (t.worker ?? UNASSIGNED)) this.filters.worker = '';
    }
    this._selectedKey = `t:${taskId}`;
    this.rowsStale = true;
    return !!t;
  }
}

/** A loop, not findIndex: no closure on the frame path. */
function indexOfKey(rows: readonly Row[], key: string): number {
  for (let i = 0; i < rows.length; i++) if (rows[i]!.key === key) return i;
  return -1;
}

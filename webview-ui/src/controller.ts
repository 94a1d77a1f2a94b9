/**
 * What the monitor does, for the user (toolbar, keys, clicks) and for the extension (its
 * notifications): each action changes the view state, tells the extension when it has to know, and
 * touches the DOM only through the list and the toolbar.
 */
import { decodeTasks, type ConnectionNotification, type EventsNotification, type PausedNotification, type RevealNotification, type SnapshotNotification } from '../../extension/src/monitor/protocol.js';
import { shortId } from './format.js';
import { probe } from './probe.js';
import type { TaskList } from './task-list.js';
import type { Toolbar, ToolbarHandlers } from './toolbar.js';
import type { NotificationHandlers, Transport } from './transport.js';
import type { FrameLocation } from './traceback.js';
import type { Row } from './view-model.js';
import type { ViewState } from './view-state.js';

export class MonitorController implements NotificationHandlers, ToolbarHandlers {
  constructor(
    private readonly view: ViewState,
    private readonly transport: Transport,
    private readonly list: TaskList,
    private readonly toolbar: Toolbar,
    /** Draws a frame now (a reveal scrolls to the row it has just placed). */
    private readonly renderNow: () => void,
  ) {}

  // ---- notifications from the extension ----------------------------------------------------

  events(m: EventsNotification): void {
    const t0 = performance.now();
    if (this.view.paused) return;
    this.view.applyEvents(m.params.events, m.params.links);
    probe()?.('events', m.params.events.length, performance.now() - t0);
  }

  snapshot(m: SnapshotNotification): void {
    const t0 = performance.now();
    const p = m.params;
    this.view.load(p.maxTasks, { workers: p.state.workers, tasks: decodeTasks(p.state.tasks), eventCount: p.state.eventCount });
    this.setPaused(p.paused, false);
    this.view.setConnection(p);
    probe()?.('snapshot', p.state.tasks.count, performance.now() - t0);
  }

  connection(m: ConnectionNotification): void {
    this.view.setConnection(m.params);
  }

  reveal(m: RevealNotification): void {
    this.revealTask(m.params.taskId);
  }

  /** Paused or resumed from the command palette: the Pause button follows. */
  paused(m: PausedNotification): void {
    this.setPaused(m.params.paused, false);
  }

  // ---- user actions ------------------------------------------------------------------------

  togglePause(): void {
    this.setPaused(!this.view.paused, true);
  }

  /** `notify`: the user paused (the extension holds events back); else the extension said so. */
  setPaused(paused: boolean, notify: boolean): void {
    this.view.setPaused(paused);
    this.toolbar.showPaused(paused);
    if (notify) this.transport.send({ method: 'setPaused', params: { paused } });
  }

  clear(): void {
    this.view.clear();
    this.transport.send({ method: 'clear' });
  }

  async retry(taskId: string): Promise<void> {
    const r = await this.transport.request('retryTask', { taskId });
    if (r.ok && r.result) {
      this.view.showFlash(`retried ${shortId(taskId)} as ${shortId(r.result.newTaskId)}`);
    } else this.view.showFlash(`retry failed: ${r.error ?? ''}`);
  }

  /** Its arguments as JSON in an input box (the extension validates them), then enqueued. */
  async editAndRun(taskId: string): Promise<void> {
    const r = await this.transport.request('editAndRun', { taskId });
    if (!r.ok) this.view.showFlash(`edit and run failed: ${r.error ?? ''}`);
    else if (r.result?.newTaskId) this.view.showFlash(`ran ${shortId(taskId)} again as ${shortId(r.result.newTaskId)} with edited arguments`);
  }

  /** Every FAILURE the filters show, re-sent with its exact arguments (the extension confirms the count). */
  async retryAllFailed(): Promise<void> {
    const taskIds = this.view.matchingTaskIds('FAILURE');
    if (!taskIds.length) return this.view.showFlash('no failed task matches the filters');
    const r = await this.transport.request('retryMany', { taskIds });
    if (!r.ok) this.view.showFlash(`retry all failed: ${r.error ?? ''}`);
    else if (r.result) this.view.showFlash(r.result.retried ? `retried ${r.result.retried} of ${taskIds.length} failures${r.result.skipped ? `; ${r.result.skipped} not: ${r.result.errors[0] ?? ''}` : ''}` : 'retry all: cancelled');
  }

  async revoke(taskId: string): Promise<void> {
    const r = await this.transport.request('revokeTask', { taskId });
    this.view.showFlash(r.ok ? `revoke sent for ${shortId(taskId)}` : `revoke failed: ${r.error ?? ''}`);
  }

  /** The extension asks first, naming what the task's pool does to it. */
  async terminate(taskId: string): Promise<void> {
    const r = await this.transport.request('revokeTask', { taskId, terminate: true });
    this.view.showFlash(r.ok ? (r.result?.sent ? `terminate sent for ${shortId(taskId)}` : 'terminate cancelled') : `terminate failed: ${r.error ?? ''}`);
  }

  /** Debug Task with this run's exact arguments. */
  async debug(taskId: string): Promise<void> {
    const r = await this.transport.request('debugTask', { taskId });
    this.view.showFlash(r.ok ? (r.result?.started ? `debugging ${shortId(taskId)}` : 'debug cancelled') : `debug failed: ${r.error ?? ''}`);
  }

  openWorkerPage(hostname: string): void {
    this.transport.send({ method: 'openWorkerPage', params: { hostname } });
  }

  openLocation(loc: FrameLocation): void {
    this.transport.send({ method: 'openLocation', params: loc });
  }

  /** Enter on a row: expand or collapse it, open its frame, or follow its task link. */
  toggle(r: Row): void {
    if (r.kind === 'worker' || r.kind === 'task') this.view.toggleExpanded(r);
    else if (r.kind === 'frame' && r.loc) this.openLocation(r.loc);
    else if (r.kind === 'detail' && r.linkTask) this.revealTask(r.linkTask);
    this.view.invalidate();
  }

  /** Selects the row at `index` (clamped) and scrolls it into the window. */
  select(index: number): void {
    const i = this.view.select(index);
    if (i >= 0) this.list.scrollIntoView(i);
  }

  /** Selects a task, shows it a third of the way down the list, and focuses the list. */
  revealTask(taskId: string): void {
    if (!this.view.revealTask(taskId)) this.toolbar.showIdSearch(taskId);
    this.renderNow();
    const i = this.view.selectedIndex();
    if (i >= 0) {
      this.list.scrollToThird(i);
      this.renderNow();
    }
    this.list.focus();
  }
}

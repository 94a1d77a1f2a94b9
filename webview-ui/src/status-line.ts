/** The status line: broker connection, workers online, tasks by state, events/s, paused, the last flash. */
import { TASK_STATES } from '../../runtime/src/events/state.js';
import { h, icon } from './dom.js';
import type { ViewState } from './view-state.js';

export class StatusLine {
  readonly el = h('div', { id: 'status', class: 'status', role: 'status', 'aria-live': 'polite' });

  constructor(private readonly view: ViewState) {}

  render(): void {
    const { cluster, connection: conn, paused, flash } = this.view;
    const counts = cluster.countByState();
    const bits = TASK_STATES.filter((s) => counts[s] > 0).map((s) => `${s.toLowerCase()} ${counts[s]}`);
    const online = [...cluster.workers.values()].filter((w) => cluster.isAlive(w)).length;
    this.el.replaceChildren(
      h('span', { class: conn.connected ? 'ok' : 'bad', title: conn.error ?? '' }, icon(conn.connected ? 'plug' : 'debug-disconnect'), ` ${conn.brokerUrl || 'broker'}${conn.connected ? '' : conn.error ? ': ' + conn.error : ': connecting…'}`),
      h('span', {}, ` · ${online}/${cluster.workers.size} workers · ${cluster.tasks.size} tasks${bits.length ? ` (${bits.join(', ')})` : ''}`),
      h('span', {}, ` · ${this.view.eventsPerSec} ev/s`),
      paused ? h('span', { class: 'paused' }, ' · paused') : '',
      flash ? h('span', { class: 'flash' }, ` · ${flash}`) : '',
    );
  }
}

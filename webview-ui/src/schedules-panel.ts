/**
 * The Schedules view: the scheduler's entries (`sprig beat --list --json`, run by the extension)
 * with their schedule, next run and last run, polled while the section is open. Read-only.
 */
import type { ScheduleEntry } from '../../extension/src/monitor/protocol.js';
import { h, icon } from './dom.js';
import { runText } from './format.js';
import { Poller } from './poller.js';
import type { Transport } from './transport.js';

const POLL_MS = 3000;

export class SchedulesPanel {
  private readonly body = h('tbody');
  private readonly note = h('div', { class: 'panel-note' }, 'Asking the scheduler…');
  readonly el = h(
    'details',
    { class: 'panel schedules-panel', id: 'schedules' },
    h('summary', {}, icon('calendar'), ' Schedules'),
    h('table', { class: 'queues schedules' }, h('thead', {}, h('tr', {}, ...['Entry', 'Task', 'Schedule', 'Next run', 'Last run'].map((t) => h('th', {}, t)))), this.body),
    this.note,
  );
  private readonly poller = new Poller(() => this.refresh(), POLL_MS);
  private busy = false;
  latest: ScheduleEntry[] = [];

  constructor(private readonly transport: Transport) {
    this.el.addEventListener('toggle', () => (this.el.open ? this.poller.start() : this.poller.stop()));
  }

  /** One request at a time (a tasks file takes a moment to load): a poll while one runs is skipped. */
  async refresh(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const r = await this.transport.request('listSchedules', {});
      if (!r.ok || !r.result) {
        this.note.textContent = `Cannot list the schedules: ${r.error ?? 'no answer'}`;
        return;
      }
      this.latest = r.result.entries;
      const errors = r.result.errors.join('; ');
      this.note.textContent = errors || (this.latest.length ? '' : 'No schedule: export `schedule` (defineSchedule) from the tasks file, or set beat.schedule in sprig.config.');
      this.render();
    } finally {
      this.busy = false;
    }
  }

  private render(now = Date.now()): void {
    this.body.replaceChildren(
      ...this.latest.map((e) =>
        h(
          'tr',
          { 'data-entry': e.name, title: `${e.name}: ${e.task}(${e.args.map((a) => JSON.stringify(a)).join(', ')})${e.file ? `\n${e.file}` : ''}` },
          h('td', { class: 'entry-name' }, e.name),
          h('td', { class: 'entry-task' }, e.task),
          h('td', { class: 'entry-schedule' }, e.schedule),
          h('td', { class: 'entry-next', 'data-at': e.nextRunAt ?? '' }, runText(e.nextRunAt, now)),
          h('td', { class: 'entry-last', 'data-at': e.lastRunAt ?? '' }, runText(e.lastRunAt, now, 'never')),
        ),
      ),
    );
  }
}

/**
 * The Queues view: every queue on the broker (QueueAdmin through the extension, or the browser
 * monitor's server) with waiting, reserved, scheduled and dead-letter counts and consumers, polled
 * while the section is open. Purge and "requeue all" ask first in place (the button turns into
 * "Confirm …" for a few seconds: a webview cannot open a modal dialog); pause and resume send
 * cancel_consumer / add_consumer; "requeue 1" puts back the oldest dead letter.
 */
import type { QueueInfo } from '../../runtime/src/control/queue-info.js';
import type { QueueRequestMethod, RequestMap } from '../../extension/src/monitor/protocol.js';
import { h, icon } from './dom.js';
import { Poller } from './poller.js';
import type { Transport } from './transport.js';

const POLL_MS = 2000;
const CONFIRM_MS = 5000;

export class QueuesPanel {
  private readonly body = h('tbody');
  private readonly note = h('div', { class: 'panel-note' }, 'Asking the broker…');
  readonly el = h(
    'details',
    { class: 'panel queues-panel', id: 'queues' },
    h('summary', {}, icon('list-unordered'), ' Queues'),
    h(
      'table',
      { class: 'queues' },
      h('thead', {}, h('tr', {}, ...['Queue', 'Waiting', 'Reserved', 'Scheduled', 'Dead', 'Consumers', ''].map((t) => h('th', {}, t)))),
      this.body,
    ),
    this.note,
  );
  private readonly poller = new Poller(() => this.refresh(), POLL_MS);
  private actions = true;
  /** A purge or requeue-all waiting for its second click (kept across the polls' redraws). */
  private armed?: { queue: string; action: string; until: number };
  /** The last list (the charts draw the queue depth from it). */
  latest: QueueInfo[] = [];
  private readonly listeners: Array<(q: QueueInfo[]) => void> = [];

  constructor(
    private readonly transport: Transport,
    private readonly flash: (text: string) => void,
  ) {
    this.el.addEventListener('toggle', () => (this.el.open ? this.start() : this.stop()));
    this.body.addEventListener('click', (e) => void this.onClick(e));
  }

  onUpdate(l: (q: QueueInfo[]) => void): void {
    this.listeners.push(l);
  }

  /** The browser monitor is read-only unless started with --allow-actions: no buttons then. */
  setActions(allowed: boolean): void {
    this.actions = allowed;
    this.render();
  }

  /** Polls the queues (also while closed, slower, when something listens: the charts' depth). */
  start(): void {
    this.poller.start();
  }

  stop(): void {
    this.poller.stop();
  }

  async refresh(): Promise<void> {
    const r = await this.transport.request('listQueues', {});
    if (!r.ok || !r.result) {
      this.note.textContent = `Cannot list the queues: ${r.error ?? 'no answer'}`;
      return;
    }
    this.latest = r.result.queues;
    this.note.textContent = this.latest.length ? '' : 'No queues on this broker yet.';
    this.render();
    for (const l of this.listeners) l(this.latest);
  }

  private render(): void {
    const n = (v: number | null) => (v === null ? '–' : String(v));
    this.body.replaceChildren(
      ...this.latest.map((q) => {
        const tr = h(
          'tr',
          { 'data-queue': q.name },
          h('td', { class: 'queue-name', title: q.name }, q.name),
          h('td', { class: 'num waiting' }, String(q.waiting)),
          h('td', { class: 'num reserved' }, n(q.reserved)),
          h('td', { class: 'num scheduled' }, n(q.scheduled)),
          h('td', { class: `num dead${q.deadLetter ? ' has-dead' : ''}` }, String(q.deadLetter)),
          h('td', { class: 'num consumers', title: q.workers.join(', ') }, String(q.consumers)),
          h('td', { class: 'queue-actions' }, ...(this.actions ? this.buttons(q) : [])),
        );
        return tr;
      }),
    );
  }

  private buttons(q: QueueInfo): HTMLElement[] {
    const b = (action: string, codicon: string, title: string, disabled = false) => {
      const el = h('button', { class: `icon-button queue-${action}`, 'data-action': action, title, 'aria-label': `${title}: ${q.name}` }, icon(codicon));
      if (disabled) el.setAttribute('disabled', '');
      const a = this.armed;
      if (a && a.queue === q.name && a.action === action && a.until > Date.now()) {
        el.setAttribute('data-armed', 'true');
        el.classList.add('armed');
        el.replaceChildren(`Confirm ${action === 'purge' ? 'purge' : 'requeue'}?`);
      }
      return el;
    };
    return [
      b('purge', 'trash', `Purge ${q.waiting} waiting`, q.waiting === 0),
      q.consumers > 0 ? b('pause', 'debug-pause', 'Pause consuming') : b('resume', 'debug-continue', 'Resume consuming'),
      b('requeue-one', 'reply', 'Requeue the oldest dead letter', q.deadLetter === 0),
      b('requeue-all', 'redo', `Requeue all ${q.deadLetter} dead letters`, q.deadLetter === 0),
    ];
  }

  private async onClick(e: Event): Promise<void> {
    const btn = (e.target as HTMLElement).closest('button');
    const queue = btn?.closest('tr')?.getAttribute('data-queue');
    if (!btn || !queue) return;
    const action = btn.getAttribute('data-action');
    // Purge and requeue-all ask first: the button says what it will do, a second click does it.
    if ((action === 'purge' || action === 'requeue-all') && btn.getAttribute('data-armed') !== 'true') {
      this.armed = { queue, action, until: Date.now() + CONFIRM_MS };
      this.render();
      setTimeout(() => this.render(), CONFIRM_MS + 50);
      return;
    }
    this.armed = undefined;
    const send = async <M extends QueueRequestMethod>(method: M, params: RequestMap[M]['params'], say: (r: RequestMap[M]['result']) => string) => {
      const r = await this.transport.request(method, params);
      this.flash(r.ok && r.result ? say(r.result) : `${queue}: ${r.error ?? 'failed'}`);
      await this.refresh();
    };
    if (action === 'purge') await send('purgeQueue', { queue }, (r) => `purged ${r.purged} message(s) from ${queue}`);
    else if (action === 'pause') await send('pauseQueue', { queue }, (r) => `${queue}: paused on ${r.workers} worker(s)`);
    else if (action === 'resume') await send('resumeQueue', { queue }, (r) => `${queue}: resumed on ${r.workers} worker(s)`);
    else if (action === 'requeue-one' || action === 'requeue-all') {
      await send('requeueDeadLetters', { queue, ...(action === 'requeue-one' ? { max: 1 } : {}) }, (r) => `requeued ${r.requeued} dead letter(s) to ${queue}${r.kept.length ? `; kept ${r.kept.length}: ${r.kept[0]}` : ''}`);
    }
  }
}

/**
 * Clicks in the list: a row's retry or revoke button, a traceback frame (opens the file), a task
 * link (reveals that task), else the row itself (selects it; expands or collapses a worker or task).
 */
import type { MonitorController } from './controller.js';
import type { TaskList } from './task-list.js';
import type { ViewState } from './view-state.js';

export function bindPointer(list: TaskList, view: ViewState, act: MonitorController): void {
  list.el.addEventListener('click', (e) => {
    const target = e.target as HTMLElement;
    const r = list.rowAt(target);
    if (!r) return;
    view.selectKey(r.key);
    const action = target.closest<HTMLElement>('[data-action]')?.dataset.action;
    const frame = target.closest<HTMLAnchorElement>('a.frame-link');
    const link = target.closest<HTMLAnchorElement>('a.task-link');
    if (action === 'worker-page' && r.kind === 'worker') {
      e.preventDefault();
      act.openWorkerPage(r.hostname);
    } else if (action && r.kind === 'task') {
      e.preventDefault();
      const id = r.task.uuid;
      void (action === 'retry' ? act.retry(id) : action === 'debug' ? act.debug(id) : action === 'edit' ? act.editAndRun(id) : action === 'terminate' ? act.terminate(id) : act.revoke(id));
    } else if (frame) {
      e.preventDefault();
      act.openLocation({ file: frame.dataset.file!, line: Number(frame.dataset.line), column: Number(frame.dataset.column) });
    } else if (link) {
      e.preventDefault();
      act.revealTask(link.dataset.task!);
    } else if (r.kind === 'worker' || r.kind === 'task') act.toggle(r);
    list.focus();
  });
}

/**
 * Keys on the focused list: arrows, Page Up/Down, Home/End move the selection; Right/Left expand,
 * collapse or go to the parent; Enter/Space toggle; r retries and Delete revokes the selected task
 * (terminates it, after a confirmation, when it runs; nothing once it ended).
 */
import type { MonitorController } from './controller.js';
import type { TaskList } from './task-list.js';
import { parentIndex, rowTaskId } from './view-model.js';
import type { ViewState } from './view-state.js';
import { stopActionFor } from '../../extension/src/tasks/stop-action.js';

export function bindKeyboard(list: TaskList, view: ViewState, act: MonitorController): void {
  list.el.addEventListener('keydown', (e) => {
    const rows = view.rows;
    const i = view.selectedIndex();
    const r = rows[i];
    switch (e.key) {
      case 'ArrowDown':
        act.select(i + 1);
        break;
      case 'ArrowUp':
        act.select(i - 1);
        break;
      case 'PageDown':
        act.select(i + list.pageRows());
        break;
      case 'PageUp':
        act.select(i - list.pageRows());
        break;
      case 'Home':
        act.select(0);
        break;
      case 'End':
        act.select(rows.length - 1);
        break;
      case 'ArrowRight':
        if (r && (r.kind === 'worker' || r.kind === 'task') && !r.expanded) act.toggle(r);
        else act.select(i + 1);
        break;
      case 'ArrowLeft':
        if (r && (r.kind === 'worker' || r.kind === 'task') && r.expanded) act.toggle(r);
        else act.select(parentIndex(rows, i));
        break;
      case 'Enter':
      case ' ':
        if (r) act.toggle(r);
        break;
      case 'r':
      case 'R': {
        const id = rowTaskId(r);
        if (id) void act.retry(id);
        break;
      }
      case 'Delete': {
        const id = rowTaskId(r);
        const state = id ? view.cluster.tasks.get(id)?.state : undefined;
        const stop = state ? stopActionFor(state) : undefined;
        if (id && stop) void (stop === 'terminate' ? act.terminate(id) : act.revoke(id));
        break;
      }
      default:
        return;
    }
    e.preventDefault();
  });
}

/**
 * The monitor webview: rebuilds the ClusterState from a snapshot and batched events, renders the
 * tree as a virtualized list (only the visible rows exist in the DOM) at most once per frame. The
 * flat row list is rebuilt only when the data, the filters or what is expanded changed; scrolling
 * and selection only redraw the window of visible rows. This file builds the parts and wires them:
 * view-state (what is known and shown), transport (the protocol), toolbar, status-line, task-list
 * (the virtualized rows), keyboard and pointer (input), controller (the actions).
 */
import '@vscode/codicons/dist/codicon.css';
import './monitor.css';
import { MonitorController } from './controller.js';
import { bindKeyboard } from './keyboard.js';
import { bindPointer } from './pointer.js';
import { probe } from './probe.js';
import { StatusLine } from './status-line.js';
import { TaskList } from './task-list.js';
import { Toolbar } from './toolbar.js';
import { Transport, type VsCodeApi } from './transport.js';
import { ViewState } from './view-state.js';

declare function acquireVsCodeApi(): VsCodeApi;

const view = new ViewState(() => requestAnimationFrame(frame));
const transport = new Transport(acquireVsCodeApi());
const toolbar = new Toolbar(view);
const status = new StatusLine(view);
const list = new TaskList(view);
const controller = new MonitorController(view, transport, list, toolbar, frame);

/** One frame: the rows if they went stale (and what depends on them), the status line if it did, the window. */
function frame(): void {
  const t0 = performance.now();
  const rebuilt = view.beginFrame(Date.now() / 1000);
  if (rebuilt) {
    toolbar.renderWorkerOptions(view.cluster);
    list.layout();
  }
  if (view.takeStatusStale()) {
    status.render();
    toolbar.renderQueryError();
  }
  const drawn = list.render();
  probe()?.(rebuilt ? 'render-rows' : 'render-view', drawn, performance.now() - t0);
}

document.getElementById('app')!.append(...toolbar.els, status.el, list.el, list.empty);
toolbar.bind(controller);
bindKeyboard(list, view, controller);
bindPointer(list, view, controller);
transport.listen(window, controller);
setInterval(() => view.tick(), 1000);

view.start();
transport.send({ method: 'ready' });

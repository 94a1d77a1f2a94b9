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
import { Transport, type NotificationHandlers, type VsCodeApi } from './transport.js';
import { Charts } from './charts.js';
import { httpHost } from './http-transport.js';
import { QueuesPanel } from './queues-panel.js';
import { SchedulesPanel } from './schedules-panel.js';
import { ViewState } from './view-state.js';

declare const acquireVsCodeApi: (() => VsCodeApi) | undefined;

const view = new ViewState(() => requestAnimationFrame(frame));
// In a webview, postMessage; in a browser (sprig monitor --http), HTTP with the same protocol.
const host = typeof acquireVsCodeApi === 'function' ? { api: acquireVsCodeApi(), source: window } : httpHost();
const transport = new Transport(host.api);
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

const queues = new QueuesPanel(transport, (text) => view.showFlash(text));
const charts = new Charts();
const schedules = new SchedulesPanel(transport);
queues.onUpdate((q) => charts.series.setDepth(q));
document.getElementById('app')!.append(...toolbar.els, status.el, queues.el, schedules.el, charts.el, list.el, list.empty);
toolbar.bind(controller);
bindKeyboard(list, view, controller);
bindPointer(list, view, controller);
const handlers: NotificationHandlers = {
  snapshot: (m) => controller.snapshot(m),
  events: (m) => {
    controller.events(m);
    charts.series.add(m.params.events);
  },
  connection: (m) => controller.connection(m),
  reveal: (m) => controller.reveal(m),
  paused: (m) => controller.paused(m),
  mode: (m) => {
    queues.setActions(m.params.actions);
    // The browser monitor has no tasks file to read schedules from (sprig beat --list does).
    schedules.el.hidden = m.params.browser;
    document.body.classList.toggle('read-only', !m.params.actions);
  },
};
transport.listen(host.source, handlers);
// The charts' queue depth: polled while the Queues view or the charts are open.
charts.el.addEventListener('toggle', () => (charts.el.open ? queues.start() : !queues.el.open && queues.stop()));
setInterval(() => view.tick(), 1000);

view.start();
transport.send({ method: 'ready' });

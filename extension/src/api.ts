/** What `activate()` returns: for other extensions and for the in-host tests. */
import type { EventHub } from './monitor/event-hub.js';
import type { MonitorViewProvider } from './monitor/monitor-view.js';
import type { WorkerManager } from './workers/worker-manager.js';
import type { WorkerPages } from './workers/worker-page.js';

export interface SprigApi {
  /** Milliseconds activate() took. */
  readonly activationMs: number;
  /** Created on first use. */
  workers(): WorkerManager;
  hub(): EventHub;
  readonly monitor: MonitorViewProvider;
  /** The workers' pages (Open Worker Page). */
  workerPages(): WorkerPages;
}

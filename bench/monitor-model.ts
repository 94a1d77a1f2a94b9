// The extension host's monitor model with N tasks seen (`npm run bench -- --only monitor`): the
// EventHub + ClusterState the extension host runs, in plain Node (a vscode stub for its two
// emitters, test/vscode-host-stub.ts), fed task-received/started/succeeded for N tasks as the
// broker's event stream would, flushed in batches as its 100 ms timer does. Run as its own process
// (`node --expose-gc --import tsx bench/monitor-model.ts N [eventsBuffer]`): prints one JSON line.
import { randomUUID } from 'node:crypto';
import { installVscodeStub } from '../test/vscode-host-stub.js';

export interface MonitorModelMemory {
  tasks: number;
  eventsBuffer: number;
  kept: number;
  /** MB, after a full GC: the hub made and empty, then with N tasks seen. */
  heapBefore: number;
  heapAfter: number;
  rssBefore: number;
  rssAfter: number;
  /** MB, the highest RSS while the events were fed. */
  rssPeak: number;
  seconds: number;
}

const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;

function measure(tasks: number, eventsBuffer: number): MonitorModelMemory {
  installVscodeStub();
  const { EventHub } = require('../extension/src/monitor/event-hub.js') as typeof import('../extension/src/monitor/event-hub.js');
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const hub = new EventHub(() => Promise.reject(new Error('no broker in this bench')), () => Promise.resolve(), eventsBuffer);
  const flush = () => (hub as unknown as { flush(): void }).flush();
  let batches = 0;
  (hub as unknown as { batchListeners: Set<() => void> }).batchListeners.add(() => void batches++);
  gc();
  const before = process.memoryUsage();
  let peak = before.rss;
  const t0 = performance.now();
  const host = 'celery@bench';
  for (let i = 0; i < tasks; i++) {
    const uuid = randomUUID();
    const ts = Date.now() / 1000;
    hub.inject([
      { type: 'task-received', uuid, name: 'bench.noop', args: '(1, 2)', kwargs: "{'x': 3}", retries: 0, eta: null, expires: null, root_id: uuid, parent_id: null, hostname: host, timestamp: ts, clock: i * 3, pid: 1 },
      { type: 'task-started', uuid, hostname: host, timestamp: ts, clock: i * 3 + 1, pid: 1 },
      { type: 'task-succeeded', uuid, result: 'None', runtime: 0.001, hostname: host, timestamp: ts, clock: i * 3 + 2, pid: 1 },
    ] as never);
    if (i % 1000 === 999) {
      flush();
      if (i % 50_000 === 49_999) peak = Math.max(peak, process.memoryUsage().rss);
    }
  }
  flush();
  const seconds = (performance.now() - t0) / 1000;
  peak = Math.max(peak, process.memoryUsage().rss);
  gc();
  const after = process.memoryUsage();
  return { tasks, eventsBuffer, kept: hub.state.tasks.size, heapBefore: mb(before.heapUsed), heapAfter: mb(after.heapUsed), rssBefore: mb(before.rss), rssAfter: mb(after.rss), rssPeak: mb(peak), seconds: Math.round(seconds * 10) / 10 };
}

if (require.main === module) {
  const n = Number(process.argv[2] ?? 1_000_000);
  const buffer = Number(process.argv[3] ?? 100_000);
  console.log(JSON.stringify(measure(n, buffer)));
}

/**
 * Print the slowest task types each minute, from the workers' event stream (start them with -E).
 *
 *   SPRIG_BROKER_URL=redis://127.0.0.1:6379/0 npx tsx slowest-tasks.ts [--every 60] [--top 5]
 *
 * A custom event consumer in ~60 lines: a receiver keeps the cluster state (so a task-succeeded
 * event, which carries only the id and the runtime, can be named from its task-received), and a
 * handler buckets runtimes by task type for the current window.
 */
import { parseArgs } from 'node:util';
import { defaultApp } from 'sprig-queue';

const { values } = parseArgs({ options: { every: { type: 'string', default: '60' }, top: { type: 'string', default: '5' } } });
const everySec = Number(values.every);
const top = Number(values.top);

const app = defaultApp();
const state = app.events.state({ maxTasks: 50_000 });
/** Runtimes (seconds) by task type, for the window being filled. */
let window = new Map<string, number[]>();

const receiver = app.events.receiver(
  {
    'task-succeeded': (e) => {
      const name = state.tasks.get(e.uuid)?.name ?? 'unknown';
      let runtimes = window.get(name);
      if (!runtimes) window.set(name, (runtimes = []));
      runtimes.push(e.runtime);
    },
    reconnected: (gap) => console.log(`(reconnected: tasks that finished in the last ${(gap.to - gap.from).toFixed(0)} s are not counted)`),
  },
  { state },
);

function report(): void {
  const done = window;
  window = new Map();
  const rows = [...done].map(([name, runtimes]) => {
    runtimes.sort((a, b) => a - b);
    const mean = runtimes.reduce((s, x) => s + x, 0) / runtimes.length;
    const p95 = runtimes[Math.min(runtimes.length - 1, Math.floor(runtimes.length * 0.95))]!;
    return { name, runs: runtimes.length, mean, p95, max: runtimes[runtimes.length - 1]! };
  });
  rows.sort((a, b) => b.mean - a.mean);
  const stamp = new Date().toISOString().slice(11, 19);
  if (!rows.length) return console.log(`[${stamp}] no task finished in the last ${everySec} s`);
  console.log(`[${stamp}] slowest task types, last ${everySec} s:`);
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows.slice(0, top)) {
    console.log(`  ${r.name.padEnd(width)}  ${String(r.runs).padStart(5)} runs  mean ${r.mean.toFixed(3)} s  p95 ${r.p95.toFixed(3)} s  max ${r.max.toFixed(3)} s`);
  }
}

async function main(): Promise<void> {
  await receiver.start();
  console.error(`watching ${(await app.broker()).displayUrl}: the slowest task types every ${everySec} s`);
  const timer = setInterval(report, everySec * 1000);
  const stop = async () => {
    clearInterval(timer);
    await receiver.close();
    await app.close();
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

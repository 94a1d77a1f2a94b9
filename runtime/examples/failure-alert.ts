/**
 * Send an alert line when a task type's failure rate crosses a threshold, and another when it
 * recovers, from the workers' event stream (start them with -E).
 *
 *   SPRIG_BROKER_URL=redis://127.0.0.1:6379/0 npx tsx failure-alert.ts \
 *     [--threshold 0.2] [--window 50] [--min 10] [--webhook https://hooks.example/...]
 *
 * The rate is over each type's last `window` outcomes (a retry is not an outcome: only the final
 * success or failure counts), once it has at least `min`. Each alert is a line on stdout; with
 * --webhook it is also POSTed as `{"text": line}` (what Slack and most chat webhooks take).
 */
import { parseArgs } from 'node:util';
import { defaultApp, type SprigEvent } from 'sprig-queue';

const { values } = parseArgs({
  options: {
    threshold: { type: 'string', default: '0.2' },
    window: { type: 'string', default: '50' },
    min: { type: 'string', default: '10' },
    webhook: { type: 'string' },
  },
});
const threshold = Number(values.threshold);
const windowSize = Number(values.window);
const minOutcomes = Number(values.min);

interface TypeStats {
  /** true = failed, oldest first. */
  outcomes: boolean[];
  alerting: boolean;
  lastError?: string;
}

const app = defaultApp();
const state = app.events.state({ maxTasks: 50_000 });
const byType = new Map<string, TypeStats>();

async function alert(line: string): Promise<void> {
  console.log(line);
  if (!values.webhook) return;
  try {
    await fetch(values.webhook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: line }) });
  } catch (err) {
    console.error(`webhook: ${(err as Error).message}`);
  }
}

function outcome(e: SprigEvent & { uuid: string }, failed: boolean, error?: string): void {
  const name = state.tasks.get(e.uuid)?.name ?? 'unknown';
  let s = byType.get(name);
  if (!s) byType.set(name, (s = { outcomes: [], alerting: false }));
  s.outcomes.push(failed);
  if (s.outcomes.length > windowSize) s.outcomes.shift();
  if (error) s.lastError = error;
  if (s.outcomes.length < minOutcomes) return;
  const failures = s.outcomes.filter(Boolean).length;
  const rate = failures / s.outcomes.length;
  const summary = `${name} failure rate ${(rate * 100).toFixed(0)}% (${failures}/${s.outcomes.length} of the last runs)`;
  if (!s.alerting && rate >= threshold) {
    s.alerting = true;
    void alert(`ALERT ${summary} crossed ${(threshold * 100).toFixed(0)}%; last error on ${e.hostname}: ${s.lastError ?? '?'}`);
  } else if (s.alerting && rate < threshold) {
    s.alerting = false;
    void alert(`RECOVERED ${summary}`);
  }
}

const receiver = app.events.receiver(
  {
    'task-succeeded': (e) => outcome(e, false),
    'task-failed': (e) => outcome(e, true, e.exception),
    reconnected: (gap) => console.error(`reconnected: outcomes of the last ${(gap.to - gap.from).toFixed(0)} s were missed`),
  },
  { state },
);

async function main(): Promise<void> {
  await receiver.start();
  console.error(`watching ${(await app.broker()).displayUrl}: alert at a ${(threshold * 100).toFixed(0)}% failure rate over ${windowSize} runs`);
  const stop = () => void receiver.close().then(() => app.close());
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

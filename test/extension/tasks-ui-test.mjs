// The monitor as a task workbench (issue 17, items 2, 4, 7, 9), in code-server driven by Playwright,
// with the extension from this folder and a worker from the CLI on the workspace's embedded broker:
// the timeline of a task retried 3 times, a progress bar, a search with results / with none / that
// does not parse, "Edit and run", and "Retry all FAILURE matching the filter" on 50 failures, each
// re-sent with its exact arguments (asserted on what the worker received and on the stored results).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { openSession, workbench } from './ui-test.mjs';

const TASKS = `import * as fs from 'node:fs';
import { task } from 'sprig-queue';

const LOG = process.env.SPRIG_UI_TASKS_LOG!;

// Fails its first three attempts (each retried with a reason), then succeeds.
export const flaky = task('flaky', (ctx) => {
  if (ctx.retries < 3) ctx.retry({ countdown: 0.2, exc: new Error(\`upstream timeout #\${ctx.retries + 1}\`) });
  return 'ok after 3 retries';
}, { bind: true, maxRetries: 5 });

// Reports progress; halfway it waits for the gate file.
export const crunch = task('crunch', async (ctx, gate: string) => {
  for (let i = 1; i <= 10; i++) {
    ctx.progress(i, 10);
    if (i === 5) while (!fs.existsSync(gate)) await new Promise((r) => setTimeout(r, 50));
  }
  return 10;
}, { bind: true });

// Always fails; writes down exactly what it was given, and which run it retries.
export const charge = task('charge', (ctx, ...args: unknown[]) => {
  fs.appendFileSync(LOG, JSON.stringify({ id: ctx.id, retryOf: ctx.headers['x-sprig-retry-of'] ?? null, args: ctx.args, kwargs: ctx.kwargs }) + '\\n');
  throw new Error('card declined');
}, { bind: true });
`;

export async function runTasksUiTest(o) {
  const { root, workspace, results, cleanups } = o;
  const log = path.join(workspace, 'charge-log.jsonl');
  fs.writeFileSync(path.join(workspace, 'workbench-tasks.ts'), TASKS);
  fs.writeFileSync(log, '');
  const { cs, page, shot, step } = await openSession({ ...o, name: 'ui-tasks' }, { extensions: [root], env: { SPRIG_LOG_LEVEL: 'info' } });
  const { open, openMonitor } = workbench(page);
  const rt = createRequire(import.meta.url)(path.join(root, 'dist', 'runtime', 'index.js'));
  let app;
  const lines = () =>
    fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  const until = async (what, fn, ms = 60_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  await step('open the workbench; a worker from the CLI on the workspace (its embedded broker)', async () => {
    // Under load the first page load of code-server can take longer than goto's 30 s: once more.
    await open(cs.url, workspace).catch(() => open(cs.url, workspace));
    const out = fs.openSync(path.join(results, 'ui-tasks-worker.log'), 'w');
    const w = spawn(process.execPath, [path.join(root, 'runtime', 'bin', 'sprig.js'), 'worker', '--app', path.join(workspace, 'workbench-tasks.ts'), '-c', '4', '--pool', 'async', '-E', '-n', `tasks-worker@${os.hostname()}`], {
      cwd: workspace,
      env: { ...process.env, SPRIG_PROJECT_DIR: workspace, SPRIG_UI_TASKS_LOG: log },
      stdio: ['ignore', out, out],
      detached: true,
    });
    cleanups.push(() => {
      try {
        process.kill(-w.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    });
    await until('the worker is ready', () => fs.readFileSync(path.join(results, 'ui-tasks-worker.log'), 'utf8').includes('ready:'));
    app = new rt.App({ brokerUrl: 'sprig://', projectDir: workspace });
    cleanups.push(() => app.close().catch(() => undefined));
  });

  const monitor = await step('Sprig: Open Monitor', async () => {
    // At load 20+ the webview can take longer than openMonitor's 30 s to come up: ask once more.
    const m = await openMonitor().catch(async () => {
      await page.keyboard.press('Escape');
      return openMonitor();
    });
    await m.locator('.row[data-kind="worker"]').first().waitFor({ timeout: 30_000 });
    return m;
  });

  await step('timeline: a task retried 3 times shows 4 attempts, each with its worker, pid, times and reason', async () => {
    const r = app.sendTask('flaky', []);
    await r.get({ timeout: 60 });
    const row = monitor.locator(`.row[data-kind="task"][data-task-id="${r.id}"][data-state="SUCCESS"]`);
    await row.waitFor({ timeout: 30_000 });
    await row.click();
    for (let n = 1; n <= 3; n++) {
      const a = monitor.locator('.row[data-kind="detail"]', { has: monitor.locator('.detail-label', { hasText: new RegExp(`^attempt ${n}$`) }) });
      await a.waitFor({ timeout: 20_000 });
      const text = await a.textContent();
      if (!/tasks-worker@.* pid \d+ .*received .*started .*retried .* after .*upstream timeout #\d/.test(text)) throw new Error(`attempt ${n}: ${text}`);
      if (!text.includes(`upstream timeout #${n}`)) throw new Error(`attempt ${n} gives the wrong reason: ${text}`);
    }
    const last = await monitor.locator('.row[data-kind="detail"]', { has: monitor.locator('.detail-label', { hasText: /^attempt 4$/ }) }).textContent();
    if (!/succeeded/.test(last)) throw new Error(`attempt 4: ${last}`);
    await page.waitForTimeout(300);
    await shot('monitor-timeline.png');
    await row.click(); // collapsed again
  });

  await step('progress: a running task shows a bar at 50 %', async () => {
    const gate = path.join(workspace, 'crunch.gate');
    const r = app.sendTask('crunch', [gate]);
    const bar = monitor.locator(`.row[data-task-id="${r.id}"][data-state="STARTED"] .progress[aria-valuenow="5"]`);
    await bar.waitFor({ timeout: 30_000 });
    const pct = await monitor.locator(`.row[data-task-id="${r.id}"] .progress-text`).textContent();
    if (pct !== '50%') throw new Error(`the bar says ${pct}`);
    const width = await bar.locator('.progress-fill').evaluate((e) => e.getBoundingClientRect().width / e.parentElement.getBoundingClientRect().width);
    if (Math.abs(width - 0.5) > 0.05) throw new Error(`the bar is ${width} full`);
    await shot('monitor-progress.png');
    fs.writeFileSync(gate, '');
    await r.get({ timeout: 60 });
    await monitor.locator(`.row[data-task-id="${r.id}"][data-state="SUCCESS"]`).waitFor({ timeout: 30_000 });
    if (await monitor.locator(`.row[data-task-id="${r.id}"] .progress`).count()) throw new Error('a finished task still shows its bar');
  });

  // 50 failures whose arguments a Python repr would not give back exactly.
  const originals = new Map();
  await step('50 failing charges; a search query finds them, one with no result says so, one that does not parse says why', async () => {
    const sent = [];
    for (let i = 0; i < 50; i++) {
      const args = [i, `card "${i}" O'Brien ü`, { amount: i + 0.5, tags: [null, true, 'x'] }];
      const kwargs = { currency: i % 2 ? 'EUR' : 'USD', note: `n°${i}` };
      const r = app.sendTask('charge', args, kwargs);
      originals.set(r.id, { args, kwargs });
      sent.push(r);
    }
    await until('50 charges ran', () => lines().length >= 50);
    await monitor.locator('#filter-name').fill('name:charge state:FAILURE,RETRY args:"O\'Brien"');
    const badge = monitor.locator('.row[data-kind="worker"] .badge');
    await until('the worker row counts 50 matching tasks', async () => (await badge.first().textContent()) === '50', 30_000);
    const states = await monitor.locator('.row[data-kind="task"]:not([hidden])').evaluateAll((els) => els.map((e) => [e.dataset.state, e.querySelector('.label')?.textContent]));
    if (!states.length || states.some(([s, n]) => s !== 'FAILURE' || n !== 'charge')) throw new Error(`the search shows ${JSON.stringify(states.slice(0, 5))}`);
    await shot('monitor-search.png');
    await monitor.locator('#filter-name').fill('name:charge state:SUCCESS');
    await monitor.locator('.empty:not([hidden])', { hasText: 'No task matches the search and filters.' }).waitFor({ timeout: 10_000 });
    await shot('monitor-search-empty.png');
    await monitor.locator('#filter-name').fill('state:FAILED name:charge');
    await monitor.locator('#query-error:not([hidden])', { hasText: /unknown state "FAILED" — use PENDING/ }).waitFor({ timeout: 10_000 });
    await shot('monitor-search-error.png');
  });

  await step('"Retry all FAILURE matching the filter": one confirmation with the count, 50 re-sent with their exact arguments', async () => {
    await monitor.locator('#filter-name').fill('name:charge state:FAILURE');
    await until('50 failures match', async () => (await monitor.locator('.row[data-kind="worker"] .badge').first().textContent()) === '50', 30_000);
    await monitor.locator('#retry-all').click();
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ timeout: 20_000 });
    const text = await dialog.textContent();
    if (!text.includes('Retry 50 failed tasks?')) throw new Error(`the dialog says ${text}`);
    await shot('monitor-retry-all-confirm.png');
    await dialog.locator('.monaco-button', { hasText: 'Retry 50' }).click();
    // The status line says it once all 50 went out (for 5 s).
    await monitor.locator('.status .flash', { hasText: /retried 50 of 50 failures/ }).waitFor({ timeout: 60_000 });
    await shot('monitor-retry-all.png');
    const retries = await until('50 retries ran', () => {
      const r = lines().filter((l) => l.retryOf);
      return r.length >= 50 ? r : null;
    }, 90_000);
    if (retries.length !== 50) throw new Error(`${retries.length} retries, not 50`);
    const seen = new Set();
    for (const r of retries) {
      const orig = originals.get(r.retryOf);
      if (!orig) throw new Error(`a retry of ${r.retryOf}, which is not one of the 50`);
      if (seen.has(r.retryOf)) throw new Error(`${r.retryOf} retried twice`);
      seen.add(r.retryOf);
      if (JSON.stringify(r.args) !== JSON.stringify(orig.args) || JSON.stringify(r.kwargs) !== JSON.stringify(orig.kwargs)) throw new Error(`retry of ${r.retryOf} got ${JSON.stringify([r.args, r.kwargs])}, not ${JSON.stringify(orig)}`);
    }
    // The stored results of the new runs hold the same arguments (what a later retry reads).
    const backend = await app.backend();
    for (const r of retries.slice(0, 50)) {
      const meta = await until(`the result of ${r.id}`, () => backend.get(r.id), 30_000);
      if (JSON.stringify(meta.args) !== JSON.stringify(originals.get(r.retryOf).args)) throw new Error(`stored args of ${r.id}: ${JSON.stringify(meta.args)}`);
    }
  });

  await step('"Edit and run": the exact arguments as JSON, a bad edit refused in the box, a good one enqueued', async () => {
    await monitor.locator('#filter-name').fill('');
    const [id] = [...originals.keys()];
    await monitor.locator('#search-id').fill(id);
    const row = monitor.locator(`.row[data-kind="task"][data-task-id="${id}"]`);
    await row.waitFor({ timeout: 20_000 });
    await row.hover();
    await row.locator('.action-edit').click();
    const box = page.locator('.quick-input-widget');
    await box.locator('.quick-input-title', { hasText: 'Edit and run charge' }).waitFor({ timeout: 20_000 });
    const input = box.locator('input');
    const value = JSON.parse(await input.inputValue());
    if (JSON.stringify(value) !== JSON.stringify(originals.get(id))) throw new Error(`the box starts with ${JSON.stringify(value)}`);
    await input.fill('{"args": 5}');
    await box.locator('.quick-input-message', { hasText: '"args" must be an array' }).waitFor({ timeout: 10_000 });
    await shot('monitor-edit-and-run.png');
    await input.fill('{"args": [999, "edited"], "kwargs": {"currency": "CHF"}}');
    await page.waitForTimeout(200);
    await page.keyboard.press('Enter');
    await until('the edited run', () => lines().find((l) => l.retryOf === id && l.args[0] === 999 && l.kwargs.currency === 'CHF'), 60_000);
  });

  await page.close();
  cs.stop();
}

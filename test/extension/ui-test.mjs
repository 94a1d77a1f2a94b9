// The UI tests: what a person sees, in code-server driven by Playwright.
// runUiTest: the extension installed from its .vsix, as a user installs it: start a worker from the
// palette, open the monitor, enqueue from the palette and from a CodeLens, put tasks in every state
// (a second worker runs from the CLI: the monitor shows every worker on the broker), then assert on
// the webview's rows and the failed task's traceback link.
// runMonitorLoadTest: the monitor under 100,000 tasks and 10,000 events/s (monitor-perf.mjs), with
// the extension loaded from this folder: the load comes from a test-only command that the
// development build registers under SPRIG_TEST_HOOKS=1 and that a released VSIX must not carry.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { startCodeServer } from './code-server.mjs';
import { perfKeybindings, runMonitorPerf } from './monitor-perf.mjs';

const STATES = ['PENDING', 'RECEIVED', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED', 'REJECTED'];

/**
 * code-server on the workspace (trusted; `extra`: the extension to load, env, keybindings), and a
 * page on it with its log, screenshots and a `step` that names what failed.
 */
export async function openSession({ host, browser, runDir, workspace, results, cleanups, log, name }, extra) {
  const cs = await startCodeServer({ ...host, runDir, workspace, trusted: true, testDriver: false, ...extra });
  cleanups.push(cs.stop);
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const pageLog = path.join(results, `${name}-page.log`);
  fs.writeFileSync(pageLog, '');
  page.on('pageerror', (e) => fs.appendFileSync(pageLog, `pageerror: ${e.stack ?? e}\n`));
  page.on('console', (m) => m.type() === 'error' && fs.appendFileSync(pageLog, `${m.type()}: ${m.text()}\n`));
  const shot = (file) => page.screenshot({ path: path.join(results, file) });
  const step = async (what, fn) => {
    log(`${name}: ${what}`);
    try {
      return await fn();
    } catch (err) {
      await shot(`${name}-failed.png`).catch(() => undefined);
      throw new Error(`${what}: ${err.message}`, { cause: err });
    }
  };
  return { cs, page, shot, step };
}

/** A `sprig worker` from the CLI in its own process group (killed by the cleanups), its output in `logFile`. */
export function spawnCliWorker({ root, workspace, cleanups }, logFile, args, env) {
  const log = fs.openSync(logFile, 'w');
  const w = spawn(process.execPath, [path.join(root, 'runtime', 'bin', 'sprig.js'), 'worker', ...args], { cwd: workspace, env, stdio: ['ignore', log, log], detached: true });
  cleanups.push(() => {
    try {
      process.kill(-w.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  return w;
}

/** The command palette and quick inputs of the workbench on `page`. */
export function workbench(page) {
  const quickInput = page.locator('.quick-input-widget');
  const quickTitle = (re) => quickInput.locator('.quick-input-title', { hasText: re }).waitFor({ timeout: 20_000 });
  const palette = async (title) => {
    // Contributed commands can take a moment to reach the palette after start-up: ask again.
    for (let attempt = 0; ; attempt++) {
      await page.keyboard.press('F1');
      const input = quickInput.locator('input');
      await input.waitFor({ state: 'visible' });
      await input.fill(`>${title}`);
      try {
        await quickInput.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor({ timeout: 5000 });
        break;
      } catch (err) {
        if (attempt >= 6) throw err;
        await page.keyboard.press('Escape');
        await page.waitForTimeout(1000);
      }
    }
    await page.keyboard.press('Enter');
  };
  const answer = async (titleRe, text) => {
    await quickTitle(titleRe);
    const input = quickInput.locator('input');
    if (text !== undefined) await input.fill(text);
    await page.waitForTimeout(150);
    await page.keyboard.press('Enter');
  };
  const toast = (re) => page.locator('.notification-toast', { hasText: re }).first().waitFor({ timeout: 30_000 });
  const open = async (url, workspace) => {
    await page.goto(`${url}/?folder=${encodeURIComponent(workspace)}`, { timeout: 120_000 });
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await page.locator('.statusbar').waitFor();
    await page.waitForTimeout(1500);
  };
  /** Sprig: Open Monitor, then the side bar made wide; resolves once the list is drawn. */
  const openMonitor = async () => {
    const monitor = page.frameLocator('iframe.webview').frameLocator('#active-frame');
    await palette('Sprig: Open Monitor');
    await monitor.locator('#list').waitFor({ timeout: 30_000 });
    const sidebar = await page.locator('.part.sidebar').boundingBox();
    if (sidebar) {
      await page.mouse.move(sidebar.x + sidebar.width + 1, sidebar.y + 300);
      await page.mouse.down();
      await page.mouse.move(sidebar.x + 820, sidebar.y + 300, { steps: 8 });
      await page.mouse.up();
    }
    return monitor;
  };
  return { quickInput, quickTitle, palette, answer, toast, open, openMonitor };
}

export async function runUiTest(o) {
  const { root, workspace, results, cleanups, log, vsix } = o;
  const { cs, page, shot, step } = await openSession({ ...o, name: 'ui' }, { ...(vsix ? { vsix } : { extensions: [root] }), env: { SPRIG_LOG_LEVEL: 'info' } });
  if (vsix) log(`ui: extension installed from ${vsix}`);
  const { quickInput, quickTitle, palette, answer, toast, open, openMonitor } = workbench(page);
  const cli = (args, opts = {}) => {
    const r = spawnSync(process.execPath, [path.join(root, 'runtime', 'bin', 'sprig.js'), ...args], {
      cwd: workspace,
      env: { ...process.env, SPRIG_PROJECT_DIR: workspace, SPRIG_LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 30_000,
      ...opts,
    });
    if (r.status !== 0) throw new Error(`sprig ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout.trim();
  };

  await step('open the workbench', () => open(cs.url, workspace));

  await step('Sprig: Start Worker from the palette (tasks file, queues, concurrency, pool)', async () => {
    await palette('Sprig: Start Worker');
    await quickTitle(/\(1\/4\): tasks file/);
    await quickInput.locator('.monaco-list-row', { hasText: 'tasks.ts' }).first().waitFor();
    await page.keyboard.press('Enter');
    await answer(/\(2\/4\): queues/, 'celery');
    await answer(/\(3\/4\): concurrency/, '2');
    await quickTitle(/\(4\/4\): pool/);
    await quickInput.locator('input').fill('async');
    await page.waitForTimeout(150);
    await page.keyboard.press('Enter');
    await page.locator('.statusbar-item', { hasText: /tasks\.ts \[celery\] \d+ active/ }).first().waitFor({ timeout: 30_000 });
  });

  // A second worker, started outside VS Code: the monitor shows every worker on the broker.
  // One slot, prefetch 1 and acks late: `later` retries (countdown 600 s) and its retry message then
  // waits behind `slow`, which holds the only prefetch slot while it runs, so the task stays in RETRY.
  await step('a second worker from the CLI (queue "second")', async () => {
    cli(['call', 'later', '-Q', 'second']);
    cli(['call', 'slow', '-a', '[600000]', '-Q', 'second']);
    const w = spawn(process.execPath, [path.join(root, 'runtime', 'bin', 'sprig.js'), 'worker', '--app', path.join(workspace, 'tasks.ts'), '-Q', 'second', '-c', '1', '--prefetch-multiplier', '1', '--acks-late', '--pool', 'async', '-E', '-n', `cli-worker@${os.hostname()}`], {
      cwd: workspace,
      env: { ...process.env, SPRIG_PROJECT_DIR: workspace },
      stdio: ['ignore', fs.openSync(path.join(results, 'ui-cli-worker.log'), 'w'), fs.openSync(path.join(results, 'ui-cli-worker.log'), 'a')],
      detached: true,
    });
    cleanups.push(() => {
      try {
        process.kill(-w.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    });
  });

  let monitor;
  await step('Sprig: Open Monitor, and make the side bar wide', async () => {
    monitor = await openMonitor();
    await monitor.locator('.row[data-kind="worker"]').first().waitFor({ timeout: 30_000 });
  });

  await step('Sprig: Enqueue Task from the palette: add [2, 3] → a notification with the result', async () => {
    await palette('Sprig: Enqueue Task');
    await quickTitle(/Enqueue Sprig Task/);
    await quickInput.locator('input').fill('add');
    await quickInput.locator('.monaco-list-row', { hasText: 'add' }).first().waitFor();
    await page.keyboard.press('Enter');
    await answer(/Enqueue add \(1\/2\)/, '[2, 3]');
    await answer(/Enqueue add \(2\/2\)/, '{}');
    await toast(/add\[[0-9a-f]{8}\] succeeded .*: 5/);
    await monitor.locator('.row[data-state="SUCCESS"]').first().waitFor({ timeout: 20_000 });
  });

  await step('"Show in Monitor" on the toast, with the monitor hidden: the task\'s row is selected', async () => {
    const toastEl = page.locator('.notification-toast', { hasText: /add\[[0-9a-f]{8}\] succeeded/ }).first();
    const short = /add\[([0-9a-f]{8})\]/.exec((await toastEl.textContent()) ?? '')?.[1];
    if (!short) throw new Error('no task id in the toast');
    // The Explorer in the side bar: the monitor's page is gone until it is shown again.
    await page.keyboard.press('Control+Shift+E');
    await page.locator('.part.sidebar .composite.title', { hasText: /explorer/i }).first().waitFor({ timeout: 10_000 });
    await toastEl.hover();
    await toastEl.locator('.monaco-button', { hasText: 'Show in Monitor' }).click();
    await monitor.locator(`.row.selected[data-kind="task"][data-task-id^="${short}"]`).waitFor({ timeout: 20_000 });
  });

  await step('"Enqueue" CodeLens on boom: a failure with a traceback', async () => {
    await page.keyboard.press('Control+P');
    await quickInput.locator('input').fill('tasks.ts');
    await quickInput.locator('.monaco-list-row', { hasText: 'tasks.ts' }).first().waitFor();
    await page.keyboard.press('Enter');
    const lens = page.locator('.codelens-decoration a', { hasText: 'Enqueue' });
    await lens.nth(1).waitFor({ timeout: 30_000 });
    await lens.nth(1).click();
    await answer(/Enqueue boom \(1\/2\)/, '["the flux capacitor is empty"]');
    await answer(/Enqueue boom \(2\/2\)/, '{}');
    await toast(/boom\[[0-9a-f]{8}\] failure/);
  });

  await step('the other states, from the CLI', async () => {
    cli(['call', 'slow', '-a', '[600000]']); // STARTED
    cli(['call', 'add', '-a', '[1, 1]', '--countdown', '600']); // RECEIVED (held until its ETA)
    cli(['call', 'add', '-a', '[4, 4]', '--expires', '0']); // REVOKED (expired on arrival)
    cli(['call', 'refuse', '-a', '["bad input"]']); // REJECTED, once the runtime reports Reject
    await publishRefused(root, workspace); // REJECTED: a content type the worker does not accept
    cli(['call', 'add', '-a', '[9, 9]', '-Q', 'nowhere']); // PENDING (no worker on that queue)
    for (let i = 0; i < 6; i++) cli(['call', 'add', '-a', `[${i}, ${i * 10}]`]);
  });

  await step('the monitor shows two workers and a task in every state', async () => {
    for (const s of STATES) await monitor.locator(`.row[data-state="${s}"]`).first().waitFor({ timeout: 30_000 });
    const workers = await monitor.locator('.row[data-kind="worker"] .label').allTextContents();
    const real = workers.filter((w) => w !== 'Waiting for a worker');
    if (real.length !== 2) throw new Error(`expected 2 workers, the monitor shows ${JSON.stringify(workers)}`);
  });

  await step('Retry from the failed row: a new task linked to the old one', async () => {
    const failed = monitor.locator('.row[data-state="FAILURE"]').first();
    await failed.hover();
    await failed.locator('.action-retry').click();
    await monitor.locator('.row[data-kind="task"] .desc', { hasText: /retry of [0-9a-f]{8}/ }).first().waitFor({ timeout: 20_000 });
  });

  await step('expand the failed task: details and a traceback whose frame opens tasks.ts at the line', async () => {
    // The retried task fails too: wait for it, so no new row shifts the list under the click
    // (pooled rows are refilled in place, so a shifted row would still pass the hit-target check).
    await monitor.locator('.row[data-state="FAILURE"]:not([hidden])').nth(1).waitFor({ timeout: 20_000 });
    await page.waitForTimeout(300);
    const failed = monitor.locator('.row[data-state="FAILURE"]:not([hidden])').last();
    await failed.click();
    await monitor.locator('.row[data-kind="detail"]', { hasText: 'exception' }).first().waitFor();
    const frame = monitor.locator('a.frame-link.user-frame', { hasText: 'tasks.ts' }).first();
    await frame.waitFor({ timeout: 10_000 });
    const line = Number(await frame.getAttribute('data-line'));
    await palette('Notifications: Clear All Notifications');
    await page.waitForTimeout(500);
    await shot('monitor.png');
    await frame.click();
    await page.locator('.statusbar-item', { hasText: new RegExp(`Ln ${line},`) }).first().waitFor({ timeout: 10_000 });
    const active = await page.locator('.tab.active').first().textContent();
    if (!active?.includes('tasks.ts')) throw new Error(`the active tab is ${active}`);
    await shot('monitor-traceback-opened.png');
  });

  await step('keyboard: filter by state, navigate with arrows', async () => {
    await monitor.locator('#filter-state').selectOption('SUCCESS');
    await page.waitForTimeout(300);
    const states = await monitor.locator('.row[data-kind="task"]:not([hidden])').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
    if (!states.length || states.some((s) => s !== 'SUCCESS')) throw new Error(`state filter shows ${states}`);
    await monitor.locator('#filter-state').selectOption('');
    await monitor.locator('#list').focus();
    const selected = monitor.locator('.row.selected:not([hidden])');
    await page.keyboard.press('Home');
    await page.waitForTimeout(100);
    if ((await selected.getAttribute('data-index')) !== '0') throw new Error('Home did not select the first row');
    await page.keyboard.press('ArrowDown');
    await page.waitForTimeout(100);
    if ((await selected.getAttribute('data-index')) !== '1') throw new Error('ArrowDown did not select the next row');
    await page.keyboard.press('End');
    await page.waitForTimeout(100);
    const last = Number(await selected.getAttribute('data-index'));
    if (!(last > 1)) throw new Error('End did not select the last row');
    await shot('monitor-filtered.png');
  });

  await step('one Pause control: the palette\'s Pause Monitor and the monitor\'s button stay in step, both ways', async () => {
    const pause = monitor.locator('#pause');
    await palette('Sprig: Pause Monitor');
    await monitor.locator('#pause[aria-pressed="true"]').waitFor({ timeout: 10_000 });
    await monitor.locator('.status .paused').waitFor({ timeout: 10_000 });
    await pause.click(); // resume from the button: the palette offers Pause again
    await monitor.locator('#pause[aria-pressed="false"]').waitFor({ timeout: 10_000 });
    await pause.click(); // pause from the button: the palette offers Resume
    await palette('Sprig: Resume Monitor');
    await monitor.locator('#pause[aria-pressed="false"]').waitFor({ timeout: 10_000 });
    const titleButtons = await page.locator('.part.sidebar .title-actions .action-label').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''));
    if (titleButtons.some((l) => /Pause|Resume/.test(l))) throw new Error(`a Pause button in the view title too: ${titleButtons}`);
  });

  await step('rows: a running task shows its time so far, a countdown task when it is scheduled for, args as JSON', async () => {
    await monitor.locator('.row[data-state="STARTED"] .desc', { hasText: /running \d+ (s|min)/ }).first().waitFor({ timeout: 20_000 });
    const scheduled = monitor.locator('.row[data-state="RECEIVED"]', { has: monitor.locator('.desc', { hasText: /scheduled for \d\d:\d\d:\d\d/ }) }).first();
    await scheduled.waitFor({ timeout: 20_000 });
    await scheduled.click();
    // add [1, 1] --countdown 600: its args as JSON (the event carries the repr "(1, 1)").
    await monitor.locator('.row[data-kind="detail"]', { hasText: 'args' }).filter({ hasText: '[1, 1]' }).first().waitFor({ timeout: 10_000 });
    await scheduled.click(); // collapsed again
  });

  await step('a narrow side bar (~280 px): no row overflows; worker names and figures are whole', async () => {
    const sidebar = await page.locator('.part.sidebar').boundingBox();
    if (!sidebar) throw new Error('no side bar');
    await page.mouse.move(sidebar.x + sidebar.width + 1, sidebar.y + 300);
    await page.mouse.down();
    await page.mouse.move(sidebar.x + 280, sidebar.y + 300, { steps: 8 });
    await page.mouse.up();
    await page.waitForTimeout(800);
    const report = await monitor.locator('#list').evaluate((list) => {
      const out = { width: list.clientWidth, rows: 0, problems: [] };
      const clipped = (el) => !!el && el.offsetWidth > 0 && el.scrollWidth > el.clientWidth + 1;
      for (const row of list.querySelectorAll('.row:not([hidden])')) {
        out.rows++;
        const r = row.getBoundingClientRect();
        const name = `${row.dataset.kind} ${row.textContent.slice(0, 40)}`;
        if (row.scrollWidth > row.clientWidth + 1) out.problems.push(`${name}: content ${row.scrollWidth} px wide in ${row.clientWidth} px`);
        for (const c of row.children) {
          const b = c.getBoundingClientRect();
          if (c.offsetWidth > 0 && b.right > r.right + 1) out.problems.push(`${name}: .${c.className} ends past the row (${Math.round(b.right)} > ${Math.round(r.right)})`);
        }
        if (row.dataset.kind === 'worker' && row.querySelector('.node')) {
          const short = row.querySelector('.stats-short');
          const node = row.querySelector('.node');
          // The host part goes first; a long node name may shorten, but its start stays readable.
          if (node.getBoundingClientRect().width < 30) out.problems.push(`${name}: the worker's name is shortened to nothing`);
          if (!row.title.startsWith(row.querySelector('.label').textContent)) out.problems.push(`${name}: no tooltip with the whole name`);
          if (!short || short.offsetWidth === 0 || clipped(short)) out.problems.push(`${name}: its figures are not shown whole`);
          if (clipped(row.querySelector('.badge'))) out.problems.push(`${name}: its count is cut`);
        }
        if (row.dataset.kind === 'detail' && clipped(row.querySelector('.detail-label')) && row.querySelector('.detail-label').textContent.length <= 10) out.problems.push(`${name}: the detail's label is cut`);
        if (row.dataset.kind === 'task' && clipped(row.querySelector('.id'))) out.problems.push(`${name}: the task id is cut`);
      }
      return out;
    });
    if (report.width > 320 || report.width < 200) throw new Error(`the monitor is ${report.width} px wide, not about 280`);
    if (report.rows < 5) throw new Error(`only ${report.rows} rows drawn`);
    if (report.problems.length) throw new Error(report.problems.slice(0, 6).join('; '));
    await shot('monitor-narrow.png');
  });

  await page.close();
  cs.stop();
}

/**
 * The monitor in a High Contrast theme (workbench.colorTheme "Default High Contrast" from the start):
 * tasks enqueued from the CLI (no worker: they wait, PENDING), then the selected row, focused or
 * not, and an expanded one must have an outline a person can see (the theme draws no backgrounds).
 */
export async function runHighContrastTest(o) {
  const { root, workspace } = o;
  const { cs, page, shot, step } = await openSession({ ...o, name: 'ui-hc' }, { extensions: [root], settings: { 'workbench.colorTheme': 'Default High Contrast' }, env: { SPRIG_LOG_LEVEL: 'info' } });
  const { open, openMonitor } = workbench(page);
  const cli = (args) => {
    const r = spawnSync(process.execPath, [path.join(root, 'runtime', 'bin', 'sprig.js'), ...args], { cwd: workspace, env: { ...process.env, SPRIG_PROJECT_DIR: workspace }, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`sprig ${args.join(' ')} failed: ${r.stderr}`);
  };
  await step('open the workbench in High Contrast', async () => {
    await open(cs.url, workspace);
    await page.locator('.monaco-workbench.hc-black').waitFor({ timeout: 30_000 });
  });
  const monitor = await step('Sprig: Open Monitor; tasks from the CLI', async () => {
    const m = await openMonitor();
    await m.locator('body.vscode-high-contrast').waitFor({ timeout: 30_000 });
    for (let i = 0; i < 3; i++) cli(['call', 'add', '-a', `[${i}, 1]`, '-Q', 'hc-nowhere', '--no-check']);
    await m.locator('.row[data-kind="task"]').nth(2).waitFor({ timeout: 30_000 });
    return m;
  });
  await step('High Contrast: the selected row (focused or not) and an expanded one have a visible outline', async () => {
    const row = monitor.locator('.row[data-kind="task"][aria-expanded="false"]:not([hidden])').first();
    await row.click(); // selected and expanded
    await page.waitForTimeout(300);
    const outline = (sel) =>
      monitor.locator(sel).first().evaluate((el) => {
        const cs = getComputedStyle(el);
        return { style: cs.outlineStyle, width: parseFloat(cs.outlineWidth), color: cs.outlineColor };
      });
    const visible = (o) => o.style !== 'none' && o.width >= 1 && !/rgba\(\d+, \d+, \d+, 0\)|transparent/.test(o.color);
    const focused = await outline('.row.selected:not([hidden])');
    if (!visible(focused)) throw new Error(`the selected row (list focused) has no visible outline: ${JSON.stringify(focused)}`);
    await monitor.locator('#filter-name').focus();
    await page.waitForTimeout(200);
    const unfocused = await outline('.row.selected:not([hidden])');
    if (!visible(unfocused)) throw new Error(`the selected row (list not focused) has no visible outline: ${JSON.stringify(unfocused)}`);
    // Another row selected: the expanded one keeps an outline of its own.
    await monitor.locator('#list').focus();
    await page.keyboard.press('End');
    await page.waitForTimeout(200);
    const expanded = await outline('.row[data-kind="task"][aria-expanded="true"]:not(.selected):not([hidden])');
    if (!visible(expanded)) throw new Error(`the expanded row has no visible outline: ${JSON.stringify(expanded)}`);
    await shot('monitor-high-contrast.png');
  });
  await page.close();
  cs.stop();
}

/**
 * The monitor under load (monitor-perf.mjs), with the extension from this folder and its test hooks.
 * Returns the measurements (test-results/monitor-perf.json); throws if the monitor misbehaved.
 */
export async function runMonitorLoadTest(o) {
  const { root, workspace, runDir, results, log } = o;
  const feedDir = path.join(runDir, 'feed');
  const { cs, page, step } = await openSession({ ...o, name: 'monitor-load' }, {
    extensions: [root],
    // The extension registers sprig._test.feedEvents (bound to keys); it writes what it fed into feedDir.
    env: { SPRIG_LOG_LEVEL: 'info', SPRIG_TEST_HOOKS: '1', SPRIG_TEST_OUT: feedDir },
    keybindings: perfKeybindings(),
  });
  const { open, openMonitor } = workbench(page);
  await step('open the workbench', () => open(cs.url, workspace));
  const monitor = await step('Sprig: Open Monitor, and make the side bar wide', openMonitor);
  try {
    return await runMonitorPerf({ page, monitor, step, results, feedDir, log });
  } finally {
    await page.close();
    cs.stop();
  }
}

/** A task message in a serializer the worker refuses (pickle): it is dead-lettered with task-rejected. */
async function publishRefused(root, workspace) {
  const rt = createRequire(import.meta.url)(path.join(root, 'dist', 'runtime', 'index.js'));
  const app = new rt.App({ brokerUrl: 'sprig://', projectDir: workspace });
  try {
    const { queue, message } = await app.buildMessage('add', [6, 6], {}, {});
    message.contentType = 'application/x-python-serialize';
    const broker = await app.broker();
    await broker.publish(queue, message);
  } finally {
    await app.close();
  }
}

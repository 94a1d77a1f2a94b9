// `npm test` (through test/run.mjs) and `npm run test:extension`: the in-host mocha suite inside
// a real VS Code extension host (code-server, trusted then untrusted workspace), then the
// Playwright UI tests: the VSIX of this machine's platform installed as a user installs it, and the
// monitor under load. Installs and caches what it needs (host-setup.mjs); exits non-zero on failure.
// `node test/extension/run.mjs [in-host] [untrusted] [ui] [ui-hc] [ui-tasks] [ui-canvas] [monitor-load]`: only those (`ui` runs
// both UI tests; SPRIG_UI_PERF=0 leaves the load out, SPRIG_UI_VSIX=0 runs `ui` from this folder).
// `npm run bench:monitor` runs `monitor-load` for its measurements (test-results/monitor-perf.json).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { ensureHost } from './host-setup.mjs';
import { startCodeServer, testUrl, CHROMIUM_ARGS } from './code-server.mjs';
import { runHighContrastTest, runMonitorLoadTest, runUiTest } from './ui-test.mjs';
import { runQueuesChartsTest } from './ui-queues.mjs';
import { runTasksUiTest } from './tasks-ui-test.mjs';
import { runCanvasUiTest } from './ui-canvas.mjs';
import { buildSuite } from './build-suite.mjs';
import { hostTarget, vsixPath } from '../../scripts/package.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const only = process.argv.slice(2);
/** With no names, every test but the load one when SPRIG_UI_PERF=0. */
const want = (name) => (only.length ? only.includes(name) : name !== 'monitor-load' || process.env.SPRIG_UI_PERF !== '0');
const results = path.join(root, 'test-results');
fs.mkdirSync(results, { recursive: true });
const cleanups = [];
const log = (m) => console.log(`[extension] ${m}`);

async function main() {
  // Cheap (< 1 s), and the host must load what the sources say now.
  const b = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) throw new Error('build failed');
  const host = ensureHost();
  const suiteIndex = await buildSuite();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sprig-ext-'));
  cleanups.push(() => killBrokers(tmp));
  const browser = await chromium.launch({ executablePath: host.chromium, args: CHROMIUM_ARGS });
  cleanups.push(() => browser.close().catch(() => undefined));
  const outcomes = [];

  // suite: which part of the in-host suite runs (index.ts); the log it writes is in-host-<suite>.log.
  const inHost = async (name, trusted, suite = trusted ? 'main' : 'untrusted', workspace = copyFixture) => {
    const ws = workspace(path.join(tmp, `${name}-ws`));
    const runDir = path.join(tmp, `${name}-run`);
    const env = { SPRIG_TEST_OUT: results, SPRIG_LOG_LEVEL: 'info', SPRIG_TEST_SUITE: suite };
    const cs = await startCodeServer({ ...host, runDir, workspace: ws, trusted, testDriver: true, env });
    cleanups.push(cs.stop);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const exit = new Promise((resolve) => page.exposeFunction('codeAutomationExit', (code) => resolve(code)));
    page.on('pageerror', (e) => fs.appendFileSync(path.join(results, `${name}-page.log`), `${e.stack ?? e}\n`));
    page.on('console', (m) => fs.appendFileSync(path.join(results, `${name}-page.log`), `${m.type()}: ${m.text()}\n`));
    fs.writeFileSync(path.join(results, `${name}-page.log`), '');
    log(`${name}: ${cs.url} (workspace ${ws}, ${trusted ? 'trusted' : 'untrusted'})`);
    const t0 = Date.now();
    // A loaded machine (CI, parallel work) can take longer than the 30 s default to serve the workbench.
    await page.goto(testUrl(cs.url, ws, root, suiteIndex), { timeout: 120_000 });
    const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), 8 * 60_000));
    const code = await Promise.race([exit, timeout]);
    await page.screenshot({ path: path.join(results, `${name}-end.png`) }).catch(() => undefined);
    const logName = `in-host-${suite}.log`;
    const report = fs.existsSync(path.join(results, logName)) ? fs.readFileSync(path.join(results, logName), 'utf8') : '(the suite wrote no log)';
    console.log(report);
    log(`${name}: exit ${code} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await page.close();
    cs.stop();
    killBrokers(ws);
    outcomes.push({ name, ok: code === 0 });
  };

  if (want('in-host')) await inHost('in-host', true);
  if (want('untrusted')) await inHost('untrusted', false);
  // A TypeScript workspace that does not use Sprig: the extension must stay asleep there.
  if (want('unrelated')) await inHost('unrelated', true, 'unrelated', unrelatedWorkspace);
  const uiTest = async (name, fn) => {
    const ws = copyFixture(path.join(tmp, `${name}-ws`));
    let ok = false;
    try {
      await fn({ host, browser, root, workspace: ws, runDir: path.join(tmp, `${name}-run`), results, cleanups, log });
      ok = true;
    } catch (err) {
      console.error(`[extension] ${name} failed: ${err.stack ?? err}`);
    }
    killBrokers(ws);
    outcomes.push({ name, ok });
  };
  if (want('ui')) {
    await uiTest('ui', async (o) => {
      // The VSIX of this machine's platform (scripts/package.mjs; reused when its staged files have
      // not changed since it was packed), installed as a user would; SPRIG_UI_VSIX=0: the folder.
      let vsix;
      if (process.env.SPRIG_UI_VSIX !== '0') {
        const target = hostTarget();
        if (!target) throw new Error(`no VSIX target for ${process.platform}-${process.arch}`);
        const p = spawnSync(process.execPath, [path.join(root, 'scripts', 'package.mjs'), '--target', target], { cwd: root, stdio: 'inherit' });
        if (p.status !== 0) throw new Error(`scripts/package.mjs --target ${target} failed`);
        vsix = vsixPath(target);
      }
      await runUiTest({ ...o, vsix });
    });
  }
  // The monitor in a High Contrast theme (its own short session, the extension from this folder).
  if (want('ui-hc') || only.includes('ui')) await uiTest('ui-hc', runHighContrastTest);
  // The Queues view and the charts (their own short session, the extension from this folder).
  if (want('ui-queues') || only.includes('ui')) await uiTest('ui-queues', runQueuesChartsTest);
  // The monitor as a task workbench: timeline, progress, search, bulk retry, edit and run.
  if (want('ui-tasks') || only.includes('ui')) await uiTest('ui-tasks', runTasksUiTest);
  // The canvas tree in a task's details and the Schedules section (a worker with --beat).
  if (want('ui-canvas') || only.includes('ui')) await uiTest('ui-canvas', runCanvasUiTest);
  if (want('monitor-load') || (only.includes('ui') && process.env.SPRIG_UI_PERF !== '0')) await uiTest('monitor-load', runMonitorLoadTest);
  const metrics = path.join(results, 'metrics.json');
  if (fs.existsSync(metrics)) log(`metrics: ${fs.readFileSync(metrics, 'utf8').replace(/\s+/g, ' ')}`);
  for (const o of outcomes) log(`${o.ok ? 'PASS' : 'FAIL'} ${o.name}`);
  const passed = outcomes.filter((o) => o.ok).length;
  console.log(`${passed} passed, ${outcomes.length - passed} failed`);
  return outcomes.every((o) => o.ok) ? 0 : 1;
}

function unrelatedWorkspace(dest) {
  fs.mkdirSync(path.join(dest, 'src'), { recursive: true });
  fs.writeFileSync(path.join(dest, 'package.json'), '{ "name": "not-sprig", "private": true }\n');
  fs.writeFileSync(path.join(dest, 'src', 'index.ts'), 'export const greet = (name: string): string => `hi ${name}`;\n');
  return dest;
}

function copyFixture(dest) {
  fs.cpSync(path.join(root, 'test', 'extension', 'fixtures', 'workspace'), dest, { recursive: true });
  return dest;
}

/** Embedded brokers outlive code-server's process group when a worker autostarted one (detached). */
function killBrokers(dir) {
  const files = [];
  const walk = (d, depth) => {
    if (depth > 3 || !fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) {
        if (e.name === '.sprig' && fs.existsSync(path.join(d, e.name, 'broker.json'))) files.push(path.join(d, e.name, 'broker.json'));
        else if (e.name !== 'node_modules') walk(path.join(d, e.name), depth + 1);
      }
    }
  };
  walk(dir, 0);
  for (const f of files) {
    try {
      const { pid } = JSON.parse(fs.readFileSync(f, 'utf8'));
      if (pid) process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`[extension] ${err.stack ?? err}`);
} finally {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      /* best effort */
    }
  }
}
process.exit(code);

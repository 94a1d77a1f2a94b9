// `npm test` (through test/run.mjs) and `npm run test:extension`: the in-host mocha suite inside
// a real VS Code extension host (code-server, trusted then untrusted workspace), then the
// Playwright UI test. Installs and caches what it needs (host-setup.mjs); exits non-zero on failure.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { ensureHost } from './host-setup.mjs';
import { startCodeServer, testUrl, CHROMIUM_ARGS } from './code-server.mjs';
import { runUiTest } from './ui-test.mjs';
import { buildSuite } from './build-suite.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const only = process.argv.slice(2);
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

  const inHost = async (name, trusted) => {
    const ws = copyFixture(path.join(tmp, `${name}-ws`));
    const runDir = path.join(tmp, `${name}-run`);
    const cs = await startCodeServer({ ...host, runDir, workspace: ws, trusted, testDriver: true, env: { SPRIG_TEST_OUT: results, SPRIG_LOG_LEVEL: 'info' } });
    cleanups.push(cs.stop);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const exit = new Promise((resolve) => page.exposeFunction('codeAutomationExit', (code) => resolve(code)));
    page.on('pageerror', (e) => fs.appendFileSync(path.join(results, `${name}-page.log`), `${e.stack ?? e}\n`));
    page.on('console', (m) => fs.appendFileSync(path.join(results, `${name}-page.log`), `${m.type()}: ${m.text()}\n`));
    fs.writeFileSync(path.join(results, `${name}-page.log`), '');
    log(`${name}: ${cs.url} (workspace ${ws}, ${trusted ? 'trusted' : 'untrusted'})`);
    const t0 = Date.now();
    await page.goto(testUrl(cs.url, ws, root, suiteIndex));
    const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), 8 * 60_000));
    const code = await Promise.race([exit, timeout]);
    await page.screenshot({ path: path.join(results, `${name}-end.png`) }).catch(() => undefined);
    const logName = trusted ? 'in-host.log' : 'in-host-untrusted.log';
    const report = fs.existsSync(path.join(results, logName)) ? fs.readFileSync(path.join(results, logName), 'utf8') : '(the suite wrote no log)';
    console.log(report);
    log(`${name}: exit ${code} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await page.close();
    cs.stop();
    killBrokers(ws);
    outcomes.push({ name, ok: code === 0 });
  };

  if (!only.length || only.includes('in-host')) await inHost('in-host', true);
  if (!only.length || only.includes('untrusted')) await inHost('untrusted', false);
  if (!only.length || only.includes('ui')) {
    const ws = copyFixture(path.join(tmp, 'ui-ws'));
    let ok = false;
    try {
      // The .vsix (npm run package) installed into code-server, as a user would; SPRIG_UI_VSIX=0: the folder.
      let vsix;
      if (process.env.SPRIG_UI_VSIX !== '0') {
        const p = spawnSync('npm', ['run', 'package', '--silent'], { cwd: root, stdio: 'inherit' });
        if (p.status !== 0) throw new Error('npm run package failed');
        vsix = path.join(root, 'dist', 'sprig.vsix');
      }
      await runUiTest({ host, browser, root, workspace: ws, runDir: path.join(tmp, 'ui-run'), results, cleanups, log, vsix });
      ok = true;
    } catch (err) {
      console.error(`[extension] UI test failed: ${err.stack ?? err}`);
    }
    killBrokers(ws);
    outcomes.push({ name: 'ui', ok });
  }
  const metrics = path.join(results, 'metrics.json');
  if (fs.existsSync(metrics)) log(`metrics: ${fs.readFileSync(metrics, 'utf8').replace(/\s+/g, ' ')}`);
  for (const o of outcomes) log(`${o.ok ? 'PASS' : 'FAIL'} ${o.name}`);
  const passed = outcomes.filter((o) => o.ok).length;
  console.log(`${passed} passed, ${outcomes.length - passed} failed`);
  return outcomes.every((o) => o.ok) ? 0 : 1;
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

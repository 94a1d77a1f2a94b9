// `npm run package [-- --target linux-x64,darwin-arm64] [-- --force]`: one VSIX per platform
// (`vsce package --target`), each carrying only its platform's esbuild binary. (`npm run package`
// runs the dev build first: the plugin's .d.ts are copied in place by it, never under --out.)
//
// The production build runs once, into dist/vsix-stage/build (dist/ keeps the dev build the tests
// load). Then per target a folder dist/vsix-stage/<target> is staged with what the installed
// extension runs: the manifest, README, docs, media, the bundles, esbuild's JS API and the
// @esbuild/<target> package of the same version, and the TypeScript server plugin as
// node_modules/sprig-ts-plugin. The allow-list .vscodeignore is copied in as the last filter, and
// vsce packs the folder into dist/sprig-<target>.vsix. Other platforms' @esbuild packages come from
// the npm registry once (`npm pack`) and are kept in .cache/esbuild-platforms, so repeat runs are
// offline. A target whose staged folder is byte-for-byte what produced the VSIX already in dist/ is
// not packed again (--force packs it anyway).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const TARGETS = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64', 'win32-arm64'];
/** Where the TypeScript server plugin is built (a workspace package) and its name in the VSIX. */
export const TS_PLUGIN = { dir: 'extension/ts-plugin', name: 'sprig-ts-plugin' };

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stageRoot = path.join(root, 'dist', 'vsix-stage');
const buildOut = path.join(stageRoot, 'build');
const cache = path.join(root, '.cache');
const require = createRequire(import.meta.url);
const log = (m) => console.log(`[package] ${m}`);

/** dist/sprig-<target>.vsix */
export const vsixPath = (target) => path.join(root, 'dist', `sprig-${target}.vsix`);

/** The VSIX target of this machine, e.g. linux-x64 (undefined where none is built). */
export function hostTarget() {
  const t = `${process.platform}-${process.arch}`;
  return TARGETS.includes(t) ? t : undefined;
}

function parseArgs(argv) {
  const targets = [];
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--force') force = true;
    else if (a === '--target') targets.push(...(argv[++i] ?? '').split(','));
    else if (a.startsWith('--target=')) targets.push(...a.slice(9).split(','));
    else throw new Error(`unknown argument ${a} (usage: package.mjs [--target ${TARGETS.join(',')}] [--force])`);
  }
  const unknown = targets.filter((t) => !TARGETS.includes(t));
  if (unknown.length) throw new Error(`unknown target ${unknown.join(', ')}; targets: ${TARGETS.join(', ')}`);
  return { targets: targets.length ? [...new Set(targets)] : TARGETS, force };
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  return r.stdout;
}

/**
 * The plugin folder to ship, or undefined when there is none and the manifest contributes none.
 * Fails when the manifest contributes a TypeScript server plugin that is not built.
 */
function tsPlugin(manifest) {
  const contributed = (manifest.contributes?.typescriptServerPlugins ?? []).map((p) => p.name);
  const dir = path.join(root, TS_PLUGIN.dir);
  const missing = ['package.json', 'dist/index.js', 'dist/types/index.d.ts'].filter((f) => !fs.existsSync(path.join(dir, f)));
  if (!fs.existsSync(dir) && !contributed.length) return undefined;
  if (missing.length) {
    const why = contributed.length ? `package.json contributes the TypeScript server plugin ${contributed.join(', ')}, but` : `${TS_PLUGIN.dir} exists, but`;
    throw new Error(`${why} ${missing.map((f) => `${TS_PLUGIN.dir}/${f}`).join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing: build it (npm run build) first`);
  }
  const pj = readJson(path.join(dir, 'package.json'));
  if (pj.name !== TS_PLUGIN.name) throw new Error(`${TS_PLUGIN.dir}/package.json is named ${pj.name}; the VSIX ships it as node_modules/${TS_PLUGIN.name}`);
  const other = contributed.filter((n) => n !== TS_PLUGIN.name);
  if (other.length) throw new Error(`package.json contributes TypeScript server plugins ${other.join(', ')}, which this script does not know how to ship`);
  // vsce lists the staged node_modules with `npm list`: a dependency the plugin declares would be missing there.
  if (Object.keys(pj.dependencies ?? {}).length) throw new Error(`${TS_PLUGIN.dir}/package.json has dependencies (${Object.keys(pj.dependencies).join(', ')}): bundle them into dist/index.js`);
  return { dir, version: pj.version };
}

/**
 * The @esbuild/<target> package folder of esbuild's version: the installed one for this machine,
 * the others fetched with `npm pack` (one call for all that are missing) into the cache.
 */
function esbuildPlatformPackages(version, targets) {
  const dirs = {};
  const fetch = [];
  const cacheDir = path.join(cache, 'esbuild-platforms', version);
  for (const t of targets) {
    const installed = path.join(root, 'node_modules', '@esbuild', t);
    const cached = path.join(cacheDir, t);
    if (fs.existsSync(path.join(installed, 'package.json')) && readJson(path.join(installed, 'package.json')).version === version) dirs[t] = installed;
    else if (fs.existsSync(path.join(cached, 'package.json'))) dirs[t] = cached;
    else fetch.push(t);
  }
  if (fetch.length) {
    log(`fetching ${fetch.map((t) => `@esbuild/${t}@${version}`).join(', ')} from the npm registry into ${path.relative(root, cacheDir)}`);
    fs.mkdirSync(cacheDir, { recursive: true });
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', cacheDir, ...fetch.map((t) => `@esbuild/${t}@${version}`)], { cwd: cacheDir }));
    for (const t of fetch) {
      const tgz = packed.find((p) => p.name === `@esbuild/${t}`)?.filename;
      if (!tgz) throw new Error(`npm pack returned no tarball for @esbuild/${t}`);
      const dest = path.join(cacheDir, t);
      const tmp = `${dest}.tmp`;
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.mkdirSync(tmp);
      run('tar', ['-xzf', path.join(cacheDir, tgz), '-C', tmp, '--strip-components=1']);
      fs.rmSync(path.join(cacheDir, tgz));
      fs.renameSync(tmp, dest);
      dirs[t] = dest;
    }
  }
  for (const t of targets) {
    const pj = readJson(path.join(dirs[t], 'package.json'));
    if (pj.name !== `@esbuild/${t}` || pj.version !== version) throw new Error(`${dirs[t]} holds ${pj.name}@${pj.version}, expected @esbuild/${t}@${version}`);
    const bin = path.join(dirs[t], t.startsWith('win32') ? 'esbuild.exe' : 'bin/esbuild');
    if (!fs.existsSync(bin)) throw new Error(`@esbuild/${t} has no ${path.relative(dirs[t], bin)}`);
  }
  return dirs;
}

/**
 * The manifest as the installed extension reads it. Without `scripts` (vsce would run a
 * vscode:prepublish in the staged folder), `devDependencies`, and `workspaces` (vsce lists the
 * staged node_modules with `npm list`, which would look for the workspace folders); with the plugin
 * as a dependency, so that listing sees it as one rather than as extraneous.
 */
function stagedManifest(manifest, plugin) {
  const { scripts: _s, devDependencies: _d, workspaces: _w, ...rest } = manifest;
  if (plugin) rest.dependencies = { ...rest.dependencies, [TS_PLUGIN.name]: plugin.version };
  return rest;
}

function copy(from, to) {
  if (!fs.existsSync(from)) return;
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.cpSync(from, to, { recursive: true, dereference: true, preserveTimestamps: false });
}

function stage(target, { manifest, plugin, esbuildDir }) {
  const dir = path.join(stageRoot, target);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(stagedManifest(manifest, plugin), null, 2)}\n`);
  for (const f of ['README.md', 'LICENSE', 'CHANGELOG.md', 'docs', 'extension/media', '.vscodeignore']) copy(path.join(root, f), path.join(dir, f));
  for (const d of ['dist/extension', 'dist/runtime', 'dist/webview']) copy(path.join(buildOut, d), path.join(dir, d));
  const esbuildPkg = path.join(root, 'node_modules', 'esbuild');
  for (const f of ['package.json', 'lib/main.js']) copy(path.join(esbuildPkg, f), path.join(dir, 'node_modules', 'esbuild', f));
  copy(esbuildDir, path.join(dir, 'node_modules', '@esbuild', target));
  if (plugin) {
    const dest = path.join(dir, 'node_modules', TS_PLUGIN.name);
    copy(path.join(plugin.dir, 'package.json'), path.join(dest, 'package.json'));
    copy(path.join(plugin.dir, 'dist'), path.join(dest, 'dist'));
    // Its .d.ts from the in-place build; its code from the production build (build.mjs --out).
    copy(path.join(buildOut, TS_PLUGIN.dir, 'dist'), path.join(dest, 'dist'));
  }
  return dir;
}

/** sha256 over every staged file's path, mode and content (and the vsce version): what the VSIX is made of. */
function treeHash(dir, vsceVersion) {
  const h = createHash('sha256').update(`vsce ${vsceVersion}\n`);
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else h.update(`${path.relative(dir, p)} ${fs.statSync(p).mode & 0o111 ? 'x' : '-'}\n`).update(fs.readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

const fileHash = (f) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** The environment for vsce's `npm list`: without an outer `npm run`'s npm_* settings. */
function vsceEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return env;
}

export async function packageVsix(argv) {
  const { targets, force } = parseArgs(argv);
  const t0 = Date.now();
  const manifest = readJson(path.join(root, 'package.json'));
  const plugin = tsPlugin(manifest);
  const esbuildVersion = readJson(path.join(root, 'node_modules', 'esbuild', 'package.json')).version;
  const vsceDir = path.dirname(require.resolve('@vscode/vsce/package.json'));
  const vsceVersion = readJson(path.join(vsceDir, 'package.json')).version;
  const esbuildDirs = esbuildPlatformPackages(esbuildVersion, targets);

  fs.rmSync(buildOut, { recursive: true, force: true });
  run(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--production', '--out', buildOut], { cwd: root, stdio: 'inherit' });
  log(`production build in ${((Date.now() - t0) / 1000).toFixed(1)} s; esbuild ${esbuildVersion}; ${plugin ? `${TS_PLUGIN.name} ${plugin.version}` : `no ${TS_PLUGIN.dir}`}`);

  const built = [];
  for (const target of targets) {
    const t1 = Date.now();
    const dir = stage(target, { manifest, plugin, esbuildDir: esbuildDirs[target] });
    const out = vsixPath(target);
    const stampFile = path.join(cache, 'vsix', `${target}.json`);
    const stageHash = treeHash(dir, vsceVersion);
    const stamp = fs.existsSync(stampFile) ? readJson(stampFile) : undefined;
    const upToDate = !force && stamp?.stageHash === stageHash && fs.existsSync(out) && stamp.vsixSha256 === fileHash(out);
    if (!upToDate) {
      fs.rmSync(out, { force: true });
      run(process.execPath, [path.join(vsceDir, 'vsce'), 'package', '--target', target, '--allow-missing-repository', '--skip-license', '--no-rewrite-relative-links', '--out', out], { cwd: dir, env: vsceEnv() });
      fs.mkdirSync(path.dirname(stampFile), { recursive: true });
      fs.writeFileSync(stampFile, JSON.stringify({ stageHash, vsixSha256: fileHash(out) }));
    }
    const mb = (fs.statSync(out).size / 1e6).toFixed(1);
    const source = esbuildDirs[target].startsWith(cache) ? 'from the cache' : 'installed';
    log(`${target.padEnd(12)} @esbuild/${target}@${esbuildVersion} (${source}) → ${path.relative(root, out)} ${mb} MB ${upToDate ? '(up to date)' : `in ${((Date.now() - t1) / 1000).toFixed(1)} s`}`);
    built.push({ target, vsix: out, packed: !upToDate });
  }
  log(`${built.length} VSIX in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return built;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    await packageVsix(process.argv.slice(2));
  } catch (err) {
    console.error(`[package] ${err.message}`);
    process.exit(1);
  }
}

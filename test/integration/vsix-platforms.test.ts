/**
 * One VSIX per platform (`npm run package`, scripts/package.mjs): each carries exactly its own
 * platform's esbuild binary, in that platform's executable format (Debian's `file`), of the version
 * esbuild's JS API expects; the TypeScript server plugin with its .d.ts; nothing else than what the
 * installed extension runs (no tests, no source maps). The host platform's VSIX, unpacked, builds
 * TypeScript with its esbuild and loads its plugin. Prints the listing as a table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, tmpDir } from '../helpers.js';

/** Each target's esbuild binary inside the VSIX, and what `file` must say about it. */
const TARGETS: Record<string, { binary: string; format: RegExp }> = {
  'linux-x64': { binary: 'bin/esbuild', format: /^ELF 64-bit LSB .*x86-64/ },
  'linux-arm64': { binary: 'bin/esbuild', format: /^ELF 64-bit LSB .*ARM aarch64/ },
  'darwin-x64': { binary: 'bin/esbuild', format: /^Mach-O 64-bit x86_64 executable/ },
  'darwin-arm64': { binary: 'bin/esbuild', format: /^Mach-O 64-bit arm64 executable/ },
  'win32-x64': { binary: 'esbuild.exe', format: /^PE32\+ executable .*x86-64.*MS Windows/ },
  'win32-arm64': { binary: 'esbuild.exe', format: /^PE32\+ executable .*Aarch64.*MS Windows/ },
};
const HOST = `${process.platform}-${process.arch}`;
const PLUGIN = 'extension/node_modules/sprig-ts-plugin';
/** Every file of a VSIX is one of these (the allow-list .vscodeignore, seen from the outside). */
const ALLOWED = [
  /^extension\.vsixmanifest$/,
  /^\[Content_Types\]\.xml$/,
  /^extension\/(package\.json|readme\.md|LICENSE\.txt|changelog\.md)$/,
  /^extension\/docs\/[^/]+\.md$/,
  /^extension\/extension\/media\/(icon\.png|sprig\.svg)$/,
  /^extension\/dist\/extension\/extension\.js$/,
  /^extension\/dist\/runtime\/(index|pool-child|cli)\.js$/,
  /^extension\/dist\/webview\/(monitor\.js|monitor\.css|[^/]+\.ttf)$/,
  /^extension\/node_modules\/esbuild\/(package\.json|lib\/main\.js)$/,
  /^extension\/node_modules\/@esbuild\/[^/]+\/(package\.json|bin\/esbuild|esbuild\.exe)$/,
  /^extension\/node_modules\/sprig-ts-plugin\/(package\.json|dist\/.+\.js|dist\/.+\.d\.ts)$/,
];
const REQUIRED = [
  'extension/package.json',
  'extension/dist/extension/extension.js',
  'extension/dist/runtime/index.js',
  'extension/dist/runtime/pool-child.js',
  'extension/dist/runtime/cli.js',
  'extension/dist/webview/monitor.js',
  'extension/dist/webview/monitor.css',
  'extension/node_modules/esbuild/package.json',
  'extension/node_modules/esbuild/lib/main.js',
];

const vsixOf = (target: string) => path.join(ROOT, 'dist', `sprig-${target}.vsix`);
const entries = (vsix: string) => unzip(['-Z1', vsix]).toString('utf8').split('\n').filter(Boolean);
const entry = (vsix: string, name: string) => unzip(['-p', vsix, name]);
const json = (vsix: string, name: string) => JSON.parse(entry(vsix, name).toString('utf8')) as { name: string; version: string; main?: string };

function unzip(args: string[]): Buffer {
  const r = spawnSync('unzip', args, { maxBuffer: 256 * 1024 * 1024 });
  assert.equal(r.status, 0, `unzip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** `file -b` of a binary written out of the VSIX. */
function fileFormat(bytes: Buffer, dir: string, name: string): string {
  const out = path.join(dir, name);
  fs.writeFileSync(out, bytes);
  const r = spawnSync('file', ['-b', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

// Packaging all six takes ~15 s on 2 cores (once the other platforms' esbuild packages are cached);
// a target already packed from the same staged files is reused (scripts/package.mjs).
test('npm run package: six VSIX, each with exactly its platform\'s esbuild binary', { timeout: 600_000 }, async (t) => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'package.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 540_000 });
  process.stdout.write(r.stdout.split('\n').filter((l) => l.startsWith('[package]')).map((l) => `  ${l}\n`).join(''));
  assert.equal(r.status, 0, `scripts/package.mjs failed:\n${r.stdout}\n${r.stderr}`);
  const tmp = tmpDir('sprig-vsix-');
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const rows: string[][] = [];
  for (const [target, want] of Object.entries(TARGETS)) {
    await t.test(target, () => {
      const vsix = vsixOf(target);
      const names = entries(vsix);
      const esbuildPackages = [...new Set(names.map((n) => /^extension\/node_modules\/@esbuild\/([^/]+)\//.exec(n)?.[1]).filter(Boolean))];
      assert.deepEqual(esbuildPackages, [target], `${path.basename(vsix)} carries @esbuild/{${esbuildPackages.join(',')}}`);
      const esbuildVersion = json(vsix, 'extension/node_modules/esbuild/package.json').version;
      const pkg = json(vsix, `extension/node_modules/@esbuild/${target}/package.json`);
      assert.equal(pkg.version, esbuildVersion, `@esbuild/${target} must be the version esbuild's JS API checks for`);
      assert.match(entry(vsix, 'extension.vsixmanifest').toString('utf8'), new RegExp(`TargetPlatform="${target}"`));
      const format = fileFormat(entry(vsix, `extension/node_modules/@esbuild/${target}/${want.binary}`), tmp, `esbuild-${target}`);
      assert.match(format, want.format);

      for (const n of REQUIRED) assert.ok(names.includes(n), `${n} is missing`);
      assert.deepEqual(names.filter((n) => !ALLOWED.some((re) => re.test(n))), [], 'files the installed extension does not run');
      assert.ok(names.includes(`${PLUGIN}/package.json`), 'the TypeScript server plugin is missing');
      const main = json(vsix, `${PLUGIN}/package.json`).main ?? 'index.js';
      assert.ok(names.includes(path.posix.join(PLUGIN, main)), `the plugin's main ${main} is missing`);
      assert.ok(names.includes(`${PLUGIN}/dist/types/index.d.ts`), "the plugin's dist/types/index.d.ts is missing");
      assert.deepEqual(names.filter((n) => n.endsWith('.map') || n.includes('/dist/test/')), [], 'source maps or tests');
      rows.push([target, `${pkg.name}@${pkg.version}`, format, `${(fs.statSync(vsix).size / 1e6).toFixed(1)} MB`]);
    });
  }
  printTable(['target', 'esbuild package', '`file` of its binary', 'VSIX'], rows);
});

// The test-only command (sprig._test.feedEvents) must not reach users: the production build drops it.
test('no VSIX holds test code', () => {
  for (const target of Object.keys(TARGETS)) {
    const vsix = vsixOf(target);
    const code = entries(vsix).filter((n) => /\.(js|cjs|mjs)$/.test(n));
    const found = code.filter((n) => entry(vsix, n).includes('sprig._test'));
    assert.deepEqual(found, [], `${path.basename(vsix)}: files with the test hooks (sprig._test.*)`);
  }
});

test(`the ${HOST} VSIX, unpacked, builds TypeScript with its esbuild and loads its TS server plugin`, { skip: !TARGETS[HOST] && `no VSIX for ${HOST}` }, () => {
  const dir = tmpDir('sprig-vsix-run-');
  try {
    unzip(['-q', vsixOf(HOST), 'extension/*', '-d', dir]);
    const ext = path.join(dir, 'extension');
    const script = `
      const esbuild = require(${JSON.stringify(path.join(ext, 'node_modules', 'esbuild'))});
      const out = esbuild.transformSync('const n: number = 1 + 1; export default n', { loader: 'ts', format: 'cjs' }).code;
      const plugin = require(${JSON.stringify(path.join(ext, 'node_modules', 'sprig-ts-plugin'))});
      console.log(JSON.stringify({ version: esbuild.version, out, plugin: typeof plugin }));`;
    // Outside the repository, with no NODE_PATH: only what the VSIX holds can be found.
    const r = spawnSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { version: string; out: string; plugin: string };
    assert.match(got.out, /const n = 1 \+ 1/);
    assert.equal(got.plugin, 'function', 'the plugin module exports the TypeScript plugin factory');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function printTable(head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  console.log(['', line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line), ''].join('\n'));
}

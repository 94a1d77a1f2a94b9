// One esbuild script. Targets: the sprig-queue package (runtime/dist: node/cjs, its dependencies
// external, plus .d.ts emitted by tsc), the runtime copy the extension ships (dist/runtime: the same
// entries with every dependency bundled), the extension (node/cjs, vscode external) and the webview
// (browser/iife). Flags: --watch, --production.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
// --out DIR: write every target under DIR instead of the repository (a test builds production there).
const outIdx = process.argv.indexOf('--out');
const outRoot = outIdx > 0 ? process.argv[outIdx + 1] : '.';
const out = (dir) => path.join(outRoot, dir);

const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  legalComments: 'none',
  // Error classes keep their names under minification: results, events and dead-letter reasons
  // carry `TimeLimitExceeded`, `WorkerLostError`... never a mangled `bs`.
  keepNames: true,
};

// index.js is the library; pool-child.js and cli.js (the `sprig` command) share its module instance.
const runtimeEntries = {
  index: 'runtime/src/index.ts',
  'pool-child': 'runtime/src/worker/pool/child-main.ts',
  cli: 'runtime/src/cli/bin.ts',
};
const runtimeCommon = {
  ...common,
  entryPoints: runtimeEntries,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Redis scripts are .lua files carried in the bundle as text.
  loader: { '.lua': 'text' },
  plugins: [shareRuntimePlugin()],
};

const targets = [
  // The npm package: readable code, its dependencies resolved from the user's node_modules.
  { ...runtimeCommon, outdir: out('runtime/dist'), packages: 'external', minify: false },
  // The extension's copy: self-contained but for esbuild, whose native binary cannot be bundled
  // (it builds users' task files).
  { ...runtimeCommon, outdir: out('dist/runtime'), external: ['esbuild', 'fsevents'] },
];

if (fs.existsSync('extension/src/extension.ts')) {
  targets.push({
    ...common,
    entryPoints: { extension: 'extension/src/extension.ts' },
    outdir: out('dist/extension'),
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'esbuild'],
    // The test-only hooks (sprig._test.*) exist in development builds only: a release drops them.
    define: { SPRIG_TEST_HOOKS_BUILD: production ? 'false' : 'true' },
  });
}
// The TypeScript server plugin the extension contributes; it serves runtime/dist/types (copied below).
targets.push({
  ...common,
  bundle: false,
  entryPoints: { index: 'extension/ts-plugin/src/index.ts' },
  outdir: out('extension/ts-plugin/dist'),
  platform: 'node',
  format: 'cjs',
  target: 'node18',
});
if (fs.existsSync('webview-ui/src/main.ts')) {
  targets.push({
    ...common,
    entryPoints: { monitor: 'webview-ui/src/main.ts', 'worker-page': 'webview-ui/src/worker-page.ts' },
    outdir: out('dist/webview'),
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    loader: { '.ttf': 'file', '.css': 'css' },
  });
  // The same bundle in the sprig-queue package: `sprig monitor --http` serves it (runtime/src/cli/monitor-http.ts).
  targets.push({ ...targets[targets.length - 1], outdir: out('runtime/dist/webview'), sourcemap: false });
}

/** Makes `import ... from '../../index.js'` inside pool-child resolve to the sibling bundle at run time. */
function shareRuntimePlugin() {
  return {
    name: 'share-runtime',
    setup(build) {
      build.onResolve({ filter: /^sprig-runtime$/ }, () => ({ path: './index.js', external: true }));
    },
  };
}

if (watch) {
  for (const t of targets) {
    const ctx = await esbuild.context(t);
    await ctx.watch();
  }
  console.log('[build] watching');
} else {
  const t0 = Date.now();
  await Promise.all([...targets.map((t) => esbuild.build(t)), emitTypes()]);
  console.log(`[build] ${targets.length} target(s) + types in ${Date.now() - t0} ms`);
}

/** The package's .d.ts files (runtime/dist/types), emitted by tsc from the runtime's sources. */
async function emitTypes() {
  if (outRoot !== '.') return;
  fs.rmSync('runtime/dist/types', { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'runtime/tsconfig.build.json'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`tsc (declarations) exited with ${r.status ?? r.signal}`);
  // The extension's TypeScript plugin offers these to workspaces that have not installed sprig-queue.
  fs.rmSync('extension/ts-plugin/dist/types', { recursive: true, force: true });
  fs.cpSync('runtime/dist/types', 'extension/ts-plugin/dist/types', { recursive: true });
}

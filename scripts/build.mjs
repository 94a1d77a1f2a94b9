// One esbuild script, three targets: runtime (node/cjs), extension (node/cjs, vscode external), webview (browser/iife).
// Flags: --watch, --production.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  legalComments: 'none',
};

const targets = [
  {
    ...common,
    entryPoints: { index: 'runtime/src/index.ts', 'pool-child': 'runtime/src/worker/pool/child-main.ts' },
    outdir: 'dist/runtime',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // esbuild is a runtime dependency (it builds users' task files); its native binary cannot be bundled.
    external: ['esbuild', 'fsevents'],
    loader: { '.lua': 'text' },
    // pool-child.js must share index.js's module instance, not carry its own copy.
    plugins: [shareRuntimePlugin()],
  },
];

if (fs.existsSync('extension/src/extension.ts')) {
  targets.push({
    ...common,
    entryPoints: { extension: 'extension/src/extension.ts' },
    outdir: 'dist/extension',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'esbuild'],
  });
}
if (fs.existsSync('webview-ui/src/main.ts')) {
  targets.push({
    ...common,
    entryPoints: { monitor: 'webview-ui/src/main.ts' },
    outdir: 'dist/webview',
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    loader: { '.ttf': 'file', '.css': 'css' },
  });
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
  await Promise.all(targets.map((t) => esbuild.build(t)));
  console.log(`[build] ${targets.length} target(s) in ${Date.now() - t0} ms`);
}

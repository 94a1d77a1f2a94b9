// Bundles the in-host mocha suite to dist/test/extension/index.js (used by run.mjs, run-electron.mjs
// and the "Extension Tests" launch configuration).
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const suiteOut = path.join(root, 'dist', 'test', 'extension');

export async function buildSuite() {
  await esbuild.build({
    entryPoints: { index: path.join(root, 'test', 'extension', 'suite', 'index.ts') },
    outdir: suiteOut,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    external: ['vscode', 'mocha', 'esbuild'],
    logLevel: 'warning',
  });
  return path.join(suiteOut, 'index.js');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await buildSuite();

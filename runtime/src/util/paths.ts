import * as fs from 'node:fs';
import * as path from 'node:path';

let root: string | undefined;

/** Names Sprig's own package.json may carry: the runtime package, or the extension that bundles it. */
const OWN_NAMES = new Set(['sprig-queue', 'sprig']);

/** The folder of Sprig's own package.json (runtime/ in the repo, the installed package, or the extension). */
export function packageRoot(): string {
  if (root) return root;
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if (OWN_NAMES.has((JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name ?? '')) return (root = dir);
      } catch {
        /* keep walking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find Sprig's package.json above ${__dirname}`);
    dir = up;
  }
}

/** True when running from TypeScript sources (tests under tsx), false in the esbuild bundle. */
export const fromSource = __filename.endsWith('.ts');

/**
 * The built runtime's folder: index.js, pool-child.js and cli.js sit side by side in every build
 * (the sprig-queue package's dist/, the extension's dist/runtime/). From sources (tests under tsx),
 * the package build in runtime/dist.
 */
function bundleDir(): string {
  return fromSource ? path.join(packageRoot(), 'dist') : __dirname;
}

/** The module that `import ... from 'sprig-queue'` in a user's tasks file resolves to: the running runtime. */
export function runtimeIndexPath(): string {
  return fromSource ? path.join(packageRoot(), 'src', 'index.ts') : path.join(bundleDir(), 'index.js');
}

/** The `sprig` CLI script (spawned for `sprig broker` autostart, the demo's worker and by tests). */
export function cliPath(): string {
  return path.join(bundleDir(), 'cli.js');
}

/** Script a pool child process / thread runs. */
export function poolChildPath(): string {
  return path.join(bundleDir(), 'pool-child.js');
}

/**
 * The project folder that owns `.sprig/`: the nearest ancestor of `from` with a sprig.config.*,
 * a `.sprig/` or a package.json; else `from` itself. SPRIG_PROJECT_DIR overrides.
 */
export function findProjectDir(from = process.cwd()): string {
  if (process.env.SPRIG_PROJECT_DIR) return path.resolve(process.env.SPRIG_PROJECT_DIR);
  let dir = path.resolve(from);
  for (;;) {
    for (const marker of ['sprig.config.ts', 'sprig.config.js', 'sprig.config.json', '.sprig', 'package.json']) {
      if (fs.existsSync(path.join(dir, marker))) return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(from);
    dir = up;
  }
}

/** The monitor webview's bundle (monitor.js, monitor.css, its font) that `sprig monitor --http` serves. */
export function monitorAssetsDir(): string {
  const candidates = [path.join(bundleDir(), 'webview'), path.join(bundleDir(), '..', 'webview')];
  return candidates.find((d) => fs.existsSync(path.join(d, 'monitor.js'))) ?? candidates[0]!;
}

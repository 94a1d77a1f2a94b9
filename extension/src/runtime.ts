/**
 * The one place the extension meets the runtime. The runtime is loaded on first use, from the
 * bundle the extension ships for its workers (dist/runtime/index.js): activation stays light, and
 * the extension and the CLI it spawns run the very same code. Every other extension file imports
 * only types from the runtime (eslint's no-restricted-imports holds them to it), and reaches its
 * values through `runtime()`.
 */
import * as path from 'node:path';

export type Runtime = typeof import('../../runtime/src/index.js');
export type {
  App,
  Broker,
  ChildExit,
  ClusterState,
  SprigEvent,
  TaskInfo,
  TaskStateName,
  WorkerReady,
} from '../../runtime/src/index.js';

let loaded: Runtime | undefined;
let root = path.resolve(__dirname, '..', '..');

/** The extension's folder (set from the ExtensionContext at activation). */
export function setExtensionRoot(dir: string): void {
  root = dir;
}

export function runtime(): Runtime {
  // A computed path: esbuild leaves this require alone, so the runtime is not bundled twice.
  return (loaded ??= require(path.join(root, 'dist', 'runtime', 'index.js')) as Runtime);
}

/** The `sprig` CLI the extension runs workers with: the runtime's own, next to its index.js. */
export function cliPath(): string {
  return path.join(root, 'dist', 'runtime', 'cli.js');
}

/** Environment for a Node child of the extension host: Electron's binary runs as plain Node. */
export function nodeChildEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return { ...process.env, ELECTRON_RUN_AS_NODE: '1', ...extra };
}

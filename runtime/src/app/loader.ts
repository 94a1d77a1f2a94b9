/**
 * Loads a user's tasks/config file (.ts or .js) with no build step: esbuild bundles it to CJS with
 * `import ... from 'sprig-queue'` (or its short alias `'sprig'`) pointing at the runtime that is
 * running now, so it works in a folder with no node_modules and tasks register with this process's
 * app even where the project has its own copy of the package installed. Other packages stay
 * external and resolve from the user's project.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { findProjectDir, runtimeIndexPath } from '../util/paths.js';

export interface LoadedModule {
  file: string;
  exports: Record<string, unknown>;
  /** Every local file the module imports (for autoreload). */
  inputs: string[];
  outfile: string;
}

/** A build error that points at the user's file and line. */
export class TaskFileError extends ConfigError {
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
  }
}

/**
 * Where a TaskFileError's message says the error is: its messages start `file:line:column: `
 * (see buildModule and loadModule below). Line and column are 1-based.
 */
export function taskFileErrorLocation(message: string): { file: string; line: number; column: number } | undefined {
  const m = /^(.+?):(\d+):(\d+): /.exec(message);
  return m ? { file: m[1]!, line: Number(m[2]), column: Number(m[3]) } : undefined;
}

let sourceMapsOn = false;

/** Builds in flight in this process (they share esbuild's service). */
let building = 0;

export async function buildModule(file: string): Promise<{ outfile: string; inputs: string[] }> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new TaskFileError(`tasks file not found: ${abs}`, abs);
  const esbuild = await import('esbuild');
  const projectDir = findProjectDir(path.dirname(abs));
  const outDir = path.join(projectDir, '.sprig', 'build');
  fs.mkdirSync(outDir, { recursive: true });
  const stamp = createHash('sha1').update(`${abs}:${Date.now()}:${Math.random()}`).digest('hex').slice(0, 10);
  const outfile = path.join(outDir, `${path.basename(abs).replace(/\.[^.]+$/, '')}-${stamp}.cjs`);
  const runtime = runtimeIndexPath();
  let result;
  building++;
  try {
    result = await esbuild.build({
      entryPoints: [abs],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      sourcemap: 'inline',
      packages: 'external',
      metafile: true,
      logLevel: 'silent',
      absWorkingDir: projectDir,
      plugins: [
        {
          name: 'sprig-self',
          setup(build) {
            build.onResolve({ filter: /^sprig(-queue)?$/ }, () => ({ path: runtime, external: true }));
          },
        },
      ],
    });
  } catch (err) {
    const e = (err as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number; lineText: string } }> })
      .errors?.[0];
    if (e?.location) {
      const f = path.resolve(projectDir, e.location.file);
      throw new TaskFileError(`${f}:${e.location.line}:${e.location.column + 1}: ${e.text}`, f, e.location.line, e.location.column + 1);
    }
    throw new TaskFileError(`cannot build ${abs}: ${(err as Error).message}`, abs);
  } finally {
    // esbuild keeps a service child process alive between builds; we build rarely, so let it go,
    // but only once no other build (a second worker in this process) still needs it: stopping it
    // under a build in flight leaves that build's promise pending forever.
    if (--building === 0) void esbuild.stop();
  }
  const inputs = Object.keys(result.metafile?.inputs ?? {})
    .map((p) => path.resolve(projectDir, p))
    .filter((p) => !p.includes(`${path.sep}node_modules${path.sep}`));
  return { outfile, inputs };
}

/** Build and require a module; returns its exports. */
export async function loadModule(file: string): Promise<LoadedModule> {
  if (!sourceMapsOn) {
    // Stack traces then point at the user's .ts file and line.
    process.setSourceMapsEnabled(true);
    sourceMapsOn = true;
  }
  const abs = path.resolve(file);
  const { outfile, inputs } = await buildModule(abs);
  let exports: Record<string, unknown>;
  try {
    exports = require(outfile) as Record<string, unknown>;
  } catch (err) {
    const where = firstUserFrame((err as Error).stack ?? '', inputs);
    throw new TaskFileError(`${where ?? abs}: error while loading: ${(err as Error).message}`, abs);
  } finally {
    delete require.cache[outfile];
    fs.rm(outfile, { force: true }, () => undefined);
  }
  return { file: abs, exports, inputs, outfile };
}

/** `file:line:col` of the first stack frame inside the user's files. */
export function firstUserFrame(stack: string, files: readonly string[]): string | undefined {
  for (const line of stack.split('\n')) {
    const m = /\(?([^()\s]+):(\d+):(\d+)\)?$/.exec(line.trim());
    if (m && files.includes(m[1]!)) return `${m[1]}:${m[2]}:${m[3]}`;
  }
  return undefined;
}

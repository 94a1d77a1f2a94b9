/**
 * A TypeScript server plugin (contributed by the extension as `typescriptServerPlugins`): where a
 * file imports `'sprig-queue'` (or the alias `'sprig'` that task files may use) and the project
 * cannot resolve it — no node_modules, nothing installed — the import resolves to the .d.ts files of
 * the runtime this extension ships. A project that has the package installed keeps its own version:
 * only failed resolutions are answered. Nothing is written into the user's tsconfig.
 */
import * as path from 'node:path';
import type * as ts from 'typescript/lib/tsserverlibrary';

type TS = typeof ts;
const NAMES = new Set(['sprig-queue', 'sprig']);

/** The shipped declarations of the runtime (copied next to this file by scripts/build.mjs). */
const typesEntry = path.join(__dirname, 'types', 'index.d.ts');

function fallback(typescript: TS): ts.ResolvedModuleWithFailedLookupLocations {
  return {
    resolvedModule: { resolvedFileName: typesEntry, extension: typescript.Extension.Dts, isExternalLibraryImport: true },
  } as ts.ResolvedModuleWithFailedLookupLocations;
}

function create(typescript: TS, info: ts.server.PluginCreateInfo): ts.LanguageService {
  const host = info.languageServiceHost;
  const log = (m: string) => info.project.projectService.logger.info(`[sprig-ts-plugin] ${m}`);
  // TypeScript 5+: one call per file for every import of it.
  const literals = host.resolveModuleNameLiterals?.bind(host);
  if (literals) {
    host.resolveModuleNameLiterals = (names, containingFile, redirected, options, sourceFile, reused) => {
      const resolved = literals(names, containingFile, redirected, options, sourceFile, reused);
      return resolved.map((r, i) => {
        if (r.resolvedModule || !NAMES.has(names[i]!.text)) return r;
        log(`${names[i]!.text} from ${containingFile} -> ${typesEntry}`);
        return fallback(typescript);
      });
    };
  }
  // Older TypeScript (workspace versions before 5.0).
  const legacy = host.resolveModuleNames?.bind(host);
  if (legacy && !literals) {
    host.resolveModuleNames = (names, containingFile, reused, redirected, options, sourceFile) => {
      const resolved = legacy(names, containingFile, reused, redirected, options, sourceFile);
      return resolved.map((r, i) => (r || !NAMES.has(names[i]!) ? r : fallback(typescript).resolvedModule));
    };
  }
  log(`active for ${info.project.getProjectName()} (types: ${typesEntry})`);
  return info.languageService;
}

function init(modules: { typescript: TS }): ts.server.PluginModule {
  return { create: (info) => create(modules.typescript, info) };
}

export = init;

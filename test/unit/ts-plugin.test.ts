// The extension's TypeScript server plugin, run in TypeScript's own language service: an import of
// 'sprig-queue' that the project cannot resolve gets the shipped types; an installed package wins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ts from 'typescript';
import { ROOT } from '../helpers.js';

const PLUGIN = path.join(ROOT, 'extension', 'ts-plugin', 'dist', 'index.js');

/** A language service over the files of `dir`, with the plugin applied as tsserver would. */
function service(dir: string) {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => path.join(dir, f));
  const options: ts.CompilerOptions = { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, types: [] };
  const host: ts.LanguageServiceHost = {
    getCompilationSettings: () => options,
    getScriptFileNames: () => files,
    getScriptVersion: () => '1',
    getScriptSnapshot: (f) => (fs.existsSync(f) ? ts.ScriptSnapshot.fromString(fs.readFileSync(f, 'utf8')) : undefined),
    getCurrentDirectory: () => dir,
    getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
    fileExists: ts.sys.fileExists,
    readFile: ts.sys.readFile,
    readDirectory: ts.sys.readDirectory,
    directoryExists: ts.sys.directoryExists,
    getDirectories: ts.sys.getDirectories,
    realpath: ts.sys.realpath,
    // What tsserver's Project offers the plugin to wrap.
    resolveModuleNameLiterals: (literals, containingFile, redirected, opts, sourceFile) =>
      literals.map((l) => ts.resolveModuleName(l.text, containingFile, opts, ts.sys, undefined, redirected, ts.getModeForUsageLocation(sourceFile, l, opts))),
  };
  const ls = ts.createLanguageService(host);
  const init = require(PLUGIN) as (m: { typescript: typeof ts }) => { create(info: unknown): ts.LanguageService };
  const logger = { info: () => undefined };
  return init({ typescript: ts }).create({ languageService: ls, languageServiceHost: host, project: { projectService: { logger }, getProjectName: () => dir }, config: {} });
}

function project(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprig-tsplugin-'));
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  }
  return dir;
}

const TASKS = "import { task } from 'sprig-queue';\nexport const add = task('add', (a: number, b: number) => a + b);\nexport const bad = add.delay('x', 3);\n";

test('nothing installed: sprig-queue (and the alias sprig) resolve to the types the extension ships', (t) => {
  const dir = project({ 'tasks.ts': TASKS, 'alias.ts': "import { task } from 'sprig';\nexport const t = task('t', (ctx, n: number) => ctx.id + n, { bind: true });\n" });
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ls = service(dir);
  const codes = (f: string) => ls.getSemanticDiagnostics(path.join(dir, f)).map((d) => d.code);
  assert.deepEqual(codes('tasks.ts'), [2345], 'the only problem: a string where add takes a number');
  assert.deepEqual(codes('alias.ts'), [], "'sprig' resolves too, and a bound task's ctx is typed");
  const info = ls.getQuickInfoAtPosition(path.join(dir, 'tasks.ts'), TASKS.indexOf('add.delay') + 1);
  assert.match(ts.displayPartsToString(info?.displayParts), /Task<\[a: number, b: number\], number>/);
});

test('an installed sprig-queue keeps its own types', (t) => {
  const dir = project({
    'tasks.ts': TASKS,
    'node_modules/sprig-queue/package.json': JSON.stringify({ name: 'sprig-queue', version: '9.9.9', types: 'index.d.ts' }),
    'node_modules/sprig-queue/index.d.ts': 'export declare function task(name: string, fn: unknown): { delay(...args: unknown[]): "installed" };\n',
  });
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ls = service(dir);
  assert.deepEqual(ls.getSemanticDiagnostics(path.join(dir, 'tasks.ts')).map((d) => d.code), [], "the installed declaration takes any arguments: no error");
  const info = ls.getQuickInfoAtPosition(path.join(dir, 'tasks.ts'), TASKS.indexOf('bad') + 1);
  assert.match(ts.displayPartsToString(info?.displayParts), /"installed"/);
});

test('without the plugin the same file cannot find the module (the test above is not vacuous)', (t) => {
  const dir = project({ 'tasks.ts': TASKS });
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const program = ts.createProgram([path.join(dir, 'tasks.ts')], { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: [] });
  assert.ok(ts.getPreEmitDiagnostics(program).some((d) => d.code === 2307));
});

// The layer check `npm run lint` runs (dependency-cruiser; test/unit/layers.test.ts proves it fails).
//
// runtime/src reads top-down: a module imports only from its own layer or the layers below it.
//
//   util/ version.ts types/                    no imports of ours
//   errors.ts
//   protocol/ serialization/ compression/      the wire: task message, pidbox body, codecs,
//     events/types.ts                          and the event names and fields every layer shares
//   brokers/ backends/                         transports and result stores
//   events/ tracing/                           dispatcher, cluster state, receiver; OpenTelemetry spans
//   app/ control/                              App, tasks, results, the app.control client
//   beat/                                      the periodic task scheduler (sends, never runs tasks)
//   worker/                                    Worker, steps, pool, the control panel it answers
//   cli/
//   index.ts                                   the one public barrel
//
// No import points up a layer, not even a type-only one: a lower layer's contract (and its .d.ts)
// must not name a higher layer's types. Inside a layer a cycle is allowed only when one link of
// it is type-only (`import type`, `import { type X }` alone, `import('x').T`): TypeScript and
// esbuild erase that link, so at run time there is no cycle (worker.ts <-> its steps, app.ts <->
// task.ts, a codec registry <-> its codecs). A cycle of value imports (static, re-export, dynamic
// `import()`, require) fails. The runtime never imports the editor side, not even a type.
const LAYERS = [
  { name: 'base', path: String.raw`^runtime/src/(util/|types/|version\.ts$)` },
  { name: 'errors', path: String.raw`^runtime/src/errors\.ts$` },
  { name: 'wire', path: String.raw`^runtime/src/(protocol/|serialization/|compression/|events/types\.ts$)` },
  { name: 'transport', path: String.raw`^runtime/src/(brokers|backends)/` },
  { name: 'events', path: String.raw`^runtime/src/(events/(?!types\.ts$)|tracing/)` },
  { name: 'app', path: String.raw`^runtime/src/(app|control)/` },
  { name: 'beat', path: String.raw`^runtime/src/beat/` },
  { name: 'worker', path: String.raw`^runtime/src/worker/` },
  { name: 'cli', path: String.raw`^runtime/src/cli/` },
  { name: 'index', path: String.raw`^runtime/src/index\.ts$` },
];

/** Imports erased at compile time (dependency-cruiser's names for them). */
const TYPE_ONLY = ['type-only', 'type-import'];

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.name}`,
  comment: `${layer.name} may import only from ${LAYERS.slice(0, i + 1).map((l) => l.name).join(', ')}: not from ${LAYERS.slice(i + 1).map((l) => l.name).join(', ')}`,
  severity: 'error',
  from: { path: layer.path },
  to: { path: LAYERS.slice(i + 1).map((l) => l.path) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-value-cycle',
      comment: 'A cycle of imports that survive compilation (one type-only link breaks it).',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: TYPE_ONLY } },
    },
    ...upward,
    {
      name: 'runtime-in-a-layer',
      comment: 'Every runtime/src module is in one of the layers above (a new folder goes into LAYERS).',
      severity: 'error',
      from: { path: '^runtime/src/', pathNot: LAYERS.map((l) => l.path) },
      to: {},
    },
    {
      name: 'runtime-in-a-layer-imported',
      comment: 'Every runtime/src module is in one of the layers above (a new folder goes into LAYERS).',
      severity: 'error',
      from: {},
      to: { path: '^runtime/src/', pathNot: LAYERS.map((l) => l.path) },
    },
    {
      name: 'runtime-not-to-editor',
      comment: 'runtime/src is a library and a CLI: it never imports the extension or the webview.',
      severity: 'error',
      from: { path: '^runtime/src/' },
      to: { path: '^(extension|webview-ui)/' },
    },
    {
      name: 'extension-not-to-webview',
      comment: 'The webview is a separate browser bundle: the extension host talks to it through messages, never imports.',
      severity: 'error',
      from: { path: '^extension/' },
      to: { path: '^webview-ui/' },
    },
    {
      name: 'relative-imports-resolve',
      comment: 'A relative import that does not resolve would drop out of every rule above.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, path: String.raw`^\.` },
    },
  ],
  options: {
    // Keep type-only imports in the graph (labelled), so the rules can tell them apart.
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
  },
};

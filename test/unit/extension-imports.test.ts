// The extension reaches the runtime one way (eslint.config.mjs): only extension/src/runtime.ts
// value-imports it; the other extension files import types only. `npm run lint` holds the tree to
// that; this holds the rule itself to it, so a config edit cannot switch it off unnoticed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '..', '..');
const eslint = new ESLint({ cwd: root });

async function oneWayErrors(file: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return r!.messages.filter((m) => /reaches the runtime one way|runs in a browser/.test(m.message)).map((m) => `${m.line}: ${m.ruleId}`);
}

test('an extension file other than runtime.ts may not value-import the runtime', async () => {
  const file = 'extension/src/monitor/some-file.ts';
  const cases: Array<[string, number]> = [
    ["import { ClusterState } from '../../../runtime/src/events/state.js';\nexport const s = new ClusterState();\n", 1],
    ["import * as rt from '../../../runtime/src/index.js';\nexport const v = rt.VERSION;\n", 1],
    ["export { findRunningBroker } from '../../../runtime/src/brokers/embedded/discovery.js';\n", 1],
    ["import { App } from 'sprig-queue';\nexport const a = new App();\n", 1],
    ["export const m = () => import('../../../runtime/src/index.js');\n", 1],
    ["export const m = require('../../../dist/runtime/index.js');\n", 1],
  ];
  for (const [code, n] of cases) assert.equal((await oneWayErrors(file, code)).length, n, code);
});

test('types from the runtime are fine anywhere in the extension, and runtime.ts may load it', async () => {
  const types = [
    "import type { ClusterState } from '../../../runtime/src/events/state.js';\nexport let s: ClusterState | undefined;\n",
    "import { type TaskInfo, type WorkerInfo } from '../../../runtime/src/events/state.js';\nexport let t: TaskInfo | WorkerInfo | undefined;\n",
    "export type { App } from '../../../runtime/src/index.js';\n",
  ];
  for (const code of types) assert.deepEqual(await oneWayErrors('extension/src/monitor/some-file.ts', code), [], code);
  const gateway = "import { VERSION } from '../../runtime/src/index.js';\nexport const v = VERSION;\nexport const r = require('../../dist/runtime/index.js');\n";
  assert.deepEqual(await oneWayErrors('extension/src/runtime.ts', gateway), []);
});

test('the webview bundles the events state of the runtime, and nothing else of it', async () => {
  const file = 'webview-ui/src/some-file.ts';
  assert.deepEqual(await oneWayErrors(file, "import { ClusterState } from '../../runtime/src/events/state.js';\nexport const s = new ClusterState();\n"), []);
  assert.equal((await oneWayErrors(file, "import { findProjectDir } from '../../runtime/src/util/paths.js';\nexport const f = findProjectDir;\n")).length, 1);
});

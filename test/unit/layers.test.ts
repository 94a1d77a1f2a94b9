// `npm run lint` checks the layers with dependency-cruiser (.dependency-cruiser.cjs). This runs
// that same command on two small fixture trees, one with a value-import cycle and one with upward
// imports, and on the real tree: it must fail on each fixture, for the right reason, and pass here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const script = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['lint:layers']!;
const [bin, ...args] = script.split(/\s+/);

/** The `lint:layers` script, run in `cwd`. */
function lintLayers(cwd: string): Promise<{ code: number; out: string; violations: string[] }> {
  assert.equal(bin, 'depcruise');
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, 'node_modules/.bin/depcruise'), ...args], { cwd }, (err, stdout, stderr) => {
      const out = stdout + stderr;
      // `  error <rule>: <from> → ...`; a cycle prints its path on the lines that follow.
      const violations = [...out.matchAll(/error (\S+): (\S+)/g)].map((m) => `${m[1]} ${m[2]}`);
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, violations });
    });
  });
}

/** A tree with the config and the folders the script names, plus `files`. */
function fixture(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sprig-layers-'));
  fs.copyFileSync(path.join(root, '.dependency-cruiser.cjs'), path.join(dir, '.dependency-cruiser.cjs'));
  const all = { 'extension/src/a.ts': 'export {};\n', 'extension/ts-plugin/src/a.ts': 'export {};\n', 'webview-ui/src/a.ts': 'export {};\n', ...files };
  for (const [rel, text] of Object.entries(all)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

test('the layer check fails on a value-import cycle, passes a cycle with a type-only link, and passes the tree', async (t) => {
  const cycle = fixture({
    'runtime/src/brokers/a.ts': "import { b } from './b.js';\nexport const a = () => b();\n",
    'runtime/src/brokers/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
    // worker.ts <-> a step, the step's link type-only: erased, so no cycle at run time.
    'runtime/src/worker/worker.ts': "import { step } from './step.js';\nexport class Worker { s = step; }\n",
    'runtime/src/worker/step.ts': "import type { Worker } from './worker.js';\nexport const step = (w: Worker) => w;\n",
  });
  const upward = fixture({
    'runtime/src/util/url.ts': "import { createBroker } from '../brokers/registry.js';\nexport const u = createBroker;\n",
    'runtime/src/brokers/registry.ts': 'export const createBroker = 1;\n',
    'runtime/src/errors.ts': "import type { Worker } from './worker/worker.js';\nexport type E = Worker;\n",
    'runtime/src/worker/worker.ts': "import { createBroker } from '../brokers/registry.js';\nexport class Worker { b = createBroker; }\n",
  });
  t.after(() => [cycle, upward].forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  const [c, u, tree] = await Promise.all([lintLayers(cycle), lintLayers(upward), lintLayers(root)]);

  assert.notEqual(c.code, 0, c.out);
  assert.ok(c.violations.length > 0 && c.violations.every((v) => /^no-value-cycle runtime\/src\/brokers\/[ab]\.ts$/.test(v)), c.out);

  assert.notEqual(u.code, 0, u.out);
  assert.deepEqual(
    u.violations.sort(),
    ['layer-base runtime/src/util/url.ts', 'layer-errors runtime/src/errors.ts'],
    `a value and a type-only import up a layer both fail; worker -> brokers (down) passes\n${u.out}`,
  );

  assert.equal(tree.code, 0, tree.out);
  assert.match(tree.out, /no dependency violations found \((\d{3,}) modules/, 'the real tree is cruised, not an empty one');
});

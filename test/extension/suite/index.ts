/// <reference types="mocha" />
/**
 * The in-host suite: `run()` is called inside a real VS Code extension host (code-server with
 * the smoke-test driver, or @vscode/test-electron). The same bundle serves both launchers.
 * A trusted workspace runs the main suite; an untrusted one runs the refusal test only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { setExtensionRoot } from '../../../extension/src/runtime.js';

export function run(): Promise<void> {
  const Mocha = require('mocha') as typeof import('mocha');
  const out = process.env.SPRIG_TEST_OUT;
  // SPRIG_TEST_SUITE (set by run.mjs): 'main', 'untrusted' or 'unrelated'; from the trust otherwise.
  const which = process.env.SPRIG_TEST_SUITE ?? (vscode.workspace.isTrusted ? 'main' : 'untrusted');
  const logFile = out ? path.join(out, `in-host-${which}.log`) : undefined;
  if (logFile) fs.writeFileSync(logFile, '');
  const log = (line: string) => {
    console.log(line);
    if (logFile) fs.appendFileSync(logFile, line + '\n');
  };
  // SPRIG_TEST_GREP: only the tests whose full title matches (a developer running one part).
  const mocha = new Mocha({ ui: 'tdd', timeout: 60_000, color: false, ...(process.env.SPRIG_TEST_GREP ? { grep: process.env.SPRIG_TEST_GREP } : {}), reporter: class {
    constructor(runner: Mocha.Runner) {
      let passed = 0;
      let failed = 0;
      let pending = 0;
      runner.on('suite', (s: Mocha.Suite) => s.title && log(`\n${s.fullTitle()}`));
      runner.on('pass', (t: Mocha.Test) => {
        passed++;
        log(`  ✔ ${t.title} (${t.duration} ms)`);
      });
      runner.on('pending', (t: Mocha.Test) => {
        pending++;
        log(`  - SKIPPED ${t.title}`);
      });
      runner.on('fail', (t: Mocha.Test, err: Error) => {
        failed++;
        log(`  ✘ ${t.fullTitle()}\n    ${(err.stack ?? err.message).split('\n').join('\n    ')}`);
      });
      runner.on('end', () => log(`\n${passed} passed, ${failed} failed${pending ? `, ${pending} skipped` : ''}`));
    }
  } as unknown as Mocha.ReporterConstructor });
  // Extension modules the tests import are bundled into this suite, with their own copy of
  // runtime.ts: it loads the runtime the extension ships, as the extension's own copy does.
  const ext = vscode.extensions.getExtension('sprig-dev.sprig');
  if (ext) setExtensionRoot(ext.extensionPath);
  // Test files call suite()/test() when required: the globals must exist first.
  mocha.suite.emit('pre-require', globalThis, 'in-host', mocha);
  if (which === 'unrelated') {
    require('./unrelated.test.js');
  } else if (vscode.workspace.isTrusted) {
    require('./activation.test.js');
    require('./types.test.js');
    require('./workers.test.js');
    require('./broker.test.js');
    require('./broker-switch.test.js');
    require('./terminate.test.js');
    require('./worker-page.test.js');
    require('./debug.test.js');
  } else {
    require('./untrusted.test.js');
  }
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures ? reject(new Error(`${failures} test(s) failed`)) : resolve()));
  });
}

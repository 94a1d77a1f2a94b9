// `npm run test:electron`: the same in-host suite through @vscode/test-electron (desktop VS Code),
// where it can be downloaded. On machines that reach only the npm registry it cannot: that is
// expected, and this launcher says so (use `npm run test:extension`, code-server, there).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { buildSuite, root } from './build-suite.mjs';

const extensionTestsPath = await buildSuite();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sprig-electron-'));
const workspace = path.join(tmp, 'workspace');
fs.cpSync(path.join(root, 'test', 'extension', 'fixtures', 'workspace'), workspace, { recursive: true });
const results = path.join(root, 'test-results');
fs.mkdirSync(results, { recursive: true });
try {
  await runTests({
    extensionDevelopmentPath: root,
    extensionTestsPath,
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--user-data-dir', path.join(tmp, 'ud')],
    extensionTestsEnv: { SPRIG_TEST_OUT: results },
  });
  console.log('test:electron: passed');
} catch (err) {
  const msg = String(err?.message ?? err);
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo|Failed to get|download/i.test(msg)) {
    console.error(`test:electron: desktop VS Code cannot be downloaded here (${msg.split('\n')[0]}); run \`npm run test:extension\` (code-server) instead`);
  } else console.error(`test:electron: ${msg}`);
  process.exitCode = 1;
}

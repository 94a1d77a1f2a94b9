// `npm run test:faults` (also part of `npm test`): the fault suite, in its own process.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/faults/faults.ts', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);

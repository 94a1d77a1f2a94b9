// `npm run test:ha` (also part of `npm test`): Redis Sentinel, Redis Cluster and a RabbitMQ cluster,
// started on loopback from Debian's packages, in their own process (engines are stopped on exit).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/ha/main.ts', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);

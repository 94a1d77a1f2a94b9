/**
 * Stand-alone entry of the embedded broker, for running from sources (`node --import tsx
 * server-main.ts --dir D [--port N] [--auto] [--idle-exit-ms N] [--fsync always|batch]`): autostart
 * under tests and the kill -9 durability test use it so they do not depend on the build.
 */
import { runEmbeddedBroker } from './server.js';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const dir = flag('--dir') ?? process.cwd();
const port = flag('--port');
const idle = flag('--idle-exit-ms');
const fsync = flag('--fsync');

runEmbeddedBroker({
  dir,
  port: port ? Number(port) : undefined,
  auto: process.argv.includes('--auto'),
  idleExitMs: idle !== undefined ? Number(idle) : undefined,
  fsync: fsync === 'batch' ? 'batch' : 'always',
}).then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`sprig broker: ${err.message}\n`);
    process.exit(1);
  },
);

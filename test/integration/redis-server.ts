/**
 * Redis servers of a test's own, on a spare loopback port (6400-6499), never the shared 6379:
 * for tests that stop, restart or fill a server. `stopAllRedis()` in an `after` kills what is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
// (engines.ts' check: the server that answers is the one we started)
import { redisPing } from '../ha/engines.js';

const servers = new Set<ChildProcess>();

/** A port in 6400-6499 that nothing listens on now. */
export async function sparePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 6400 + Math.floor(Math.random() * 100);
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no spare port in 6400-6499');
}

/** Our own redis-server on `port` (no persistence); resolves once it answers PING. */
export async function startRedis(port: number): Promise<ChildProcess> {
  const server = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  servers.add(server);
  server.once('exit', () => servers.delete(server));
  await redisPing(port, server);
  return server;
}

export async function stopRedis(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const gone = new Promise((r) => server.once('exit', r));
  server.kill('SIGKILL');
  await gone;
}

/** Every server started here that still runs. */
export function stopAllRedis(): void {
  for (const s of servers) s.kill('SIGKILL');
}

/**
 * The project's embedded broker, found or started the runtime's way (ensureEmbeddedBroker): a lock
 * in `.sprig/` makes clients that start at the same moment (this window, a CLI worker, another
 * window) start ONE broker. It runs detached, logs to `.sprig/broker.log` and exits after 10 idle
 * minutes, so it outlives a window that others may still be using. Stopped by a shutdown request
 * over its own protocol: no signal, the same on every OS.
 */
import { runtime } from '../runtime.js';

/** True when a broker answers for `projectDir`. */
export async function isEmbeddedBrokerRunning(projectDir: string): Promise<boolean> {
  return (await runtime().findRunningBroker(projectDir)) !== null;
}

/** Start one unless one already answers; resolves when it answers. */
export async function ensureEmbeddedBroker(projectDir: string, timeoutMs = 15_000): Promise<void> {
  await runtime().ensureEmbeddedBroker({ projectDir, timeoutMs });
}

/** Stop the broker of `projectDir`, whoever started it. False if none ran. */
export async function stopEmbeddedBroker(projectDir: string): Promise<boolean> {
  return (await runtime().stopEmbeddedBroker(projectDir)) !== 'none';
}

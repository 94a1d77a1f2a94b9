/**
 * Shutdown and readiness between a parent and a Node child it owns (`sprig worker` under the
 * extension or `sprig demo`, `sprig broker` under the extension), over the child's IPC channel.
 *
 * Why not signals: on Windows nothing delivers SIGTERM/SIGINT to another process;
 * `child.kill('SIGTERM')` and `process.kill(pid, 'SIGTERM')` are TerminateProcess, so a running
 * task never finishes and nothing is cleaned up. A parent therefore asks over IPC, waits, and kills
 * only after a grace period; the same path on every OS, so the Linux tests exercise it. Signals
 * stay for terminals and service managers (Ctrl-C, systemd's SIGTERM).
 *
 * - parent -> child `{ type: 'shutdown', mode }`: 'warm' finishes running work, 'cold' stops now.
 * - child -> parent `{ type: 'ready', ... }`: the child does its job now (a worker consumes).
 * - the channel closing (the parent died) is a warm shutdown request too.
 *
 * Pool children speak their own batch protocol (worker/pool/child-protocol.ts) with the same modes.
 */
import type { ChildProcess } from 'node:child_process';

export type ShutdownMode = 'warm' | 'cold';

export interface ShutdownRequest {
  type: 'shutdown';
  mode: ShutdownMode;
}

/** A worker consumes: what the parent needs to show it, without reading its log. */
export interface WorkerReady {
  type: 'ready';
  hostname: string;
  pid: number;
  pool: string;
  concurrency: number;
  queues: string[];
  /** The broker URL without its password. */
  broker: string;
}

export type ToChildMessage = ShutdownRequest;
export type FromChildMessage = WorkerReady;

export function isShutdownRequest(v: unknown): v is ShutdownRequest {
  const m = v as Partial<ShutdownRequest> | null;
  return !!m && typeof m === 'object' && m.type === 'shutdown' && (m.mode === 'warm' || m.mode === 'cold');
}

export function isWorkerReady(v: unknown): v is WorkerReady {
  const m = v as Partial<WorkerReady> | null;
  return (
    !!m &&
    typeof m === 'object' &&
    m.type === 'ready' &&
    typeof m.hostname === 'string' &&
    typeof m.pid === 'number' &&
    typeof m.pool === 'string' &&
    typeof m.concurrency === 'number' &&
    Array.isArray(m.queues) &&
    typeof m.broker === 'string'
  );
}

// ---- child side ----

/** Tell the parent (if this process has an IPC channel to one). */
export function sendToParent(m: FromChildMessage): void {
  if (!process.send || !process.connected) return;
  process.send(m, undefined, {}, () => undefined);
}

/**
 * Call `handler` for each shutdown request from the parent, and with 'disconnect' once when the
 * channel closes (the parent exited or died). Does nothing without a channel. The returned function
 * stops listening, which also lets the channel stop holding the event loop open.
 */
export function onParentShutdown(handler: (mode: ShutdownMode, why: 'request' | 'disconnect') => void): () => void {
  if (!process.send) return () => undefined;
  const onMessage = (m: unknown) => {
    if (isShutdownRequest(m)) handler(m.mode, 'request');
  };
  const onDisconnect = () => handler('warm', 'disconnect');
  process.on('message', onMessage);
  process.once('disconnect', onDisconnect);
  return () => {
    process.off('message', onMessage);
    process.off('disconnect', onDisconnect);
  };
}

// ---- parent side ----

export interface StopChildOptions {
  mode?: ShutdownMode;
  /** How long the child may take after the request before it is killed. */
  graceMs: number;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /**
   * 'ipc': it exited after the shutdown request; 'signal': it had no IPC channel and got SIGTERM
   * (on Windows that is already TerminateProcess); 'killed': it outlived the grace period;
   * 'exited': it was gone already.
   */
  how: 'ipc' | 'signal' | 'killed' | 'exited';
}

/** Ask `child` to shut down over IPC, wait up to `graceMs`, then kill it. Resolves when it exited. */
export function stopChild(child: ChildProcess, opts: StopChildOptions): Promise<ChildExit> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode, how: 'exited' });
  }
  return new Promise((resolve) => {
    let how: ChildExit['how'] = 'ipc';
    const signalInstead = () => {
      how = 'signal';
      child.kill('SIGTERM');
    };
    const force = setTimeout(() => {
      how = 'killed';
      child.kill('SIGKILL');
    }, opts.graceMs);
    child.once('exit', (code, signal) => {
      clearTimeout(force);
      resolve({ code, signal, how });
    });
    const request: ToChildMessage = { type: 'shutdown', mode: opts.mode ?? 'warm' };
    if (!child.connected) return signalInstead();
    try {
      child.send(request, (err) => {
        if (err && child.exitCode === null && child.signalCode === null) signalInstead();
      });
    } catch {
      signalInstead();
    }
  });
}

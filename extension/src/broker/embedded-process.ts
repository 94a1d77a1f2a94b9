/**
 * The project's embedded broker (`sprig broker --dir D`) run as a child of the extension host,
 * or found already running from `<projectDir>/.sprig/broker.json`. Stopped without signals (Windows
 * has none to give): ours over its IPC channel, another one by a shutdown request over its own
 * protocol.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as vscode from 'vscode';
import { findRunningBroker } from '../../../runtime/src/brokers/embedded/discovery.js';
import { stopChild } from '../../../runtime/src/util/child-ipc.js';
import { cliPath, nodeChildEnv, runtime } from '../runtime.js';

export class EmbeddedBrokerProcess implements vscode.Disposable {
  private child?: ChildProcess;
  private childDir?: string;
  private starting?: Promise<void>;
  private output?: vscode.OutputChannel;

  /** True when a broker answers for `projectDir`. */
  async isRunning(projectDir: string): Promise<boolean> {
    return (await findRunningBroker(projectDir)) !== null;
  }

  /** Started by this window (stopped with it). */
  ownsBroker(projectDir: string): boolean {
    return !!this.child && this.child.exitCode === null && this.childDir === projectDir;
  }

  /** Start one unless one already answers; resolves when it answers. */
  ensure(projectDir: string, timeoutMs = 15_000): Promise<void> {
    return (this.starting ??= this.doEnsure(projectDir, timeoutMs).finally(() => (this.starting = undefined)));
  }

  private async doEnsure(projectDir: string, timeoutMs: number): Promise<void> {
    if (await this.isRunning(projectDir)) return;
    const out = (this.output ??= vscode.window.createOutputChannel('Sprig Broker'));
    const child = spawn(process.execPath, [cliPath(), 'broker', '--dir', projectDir], {
      cwd: projectDir,
      env: nodeChildEnv(),
      // IPC: a shutdown request stops it, and it stops by itself if this extension host dies.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      windowsHide: true,
    });
    this.child = child;
    this.childDir = projectDir;
    out.appendLine(`[sprig] starting the embedded broker for ${projectDir} (pid ${child.pid})`);
    for (const stream of [child.stdout, child.stderr]) stream?.setEncoding('utf8').on('data', (text: string) => out.append(text));
    let exited: number | null = null;
    child.on('exit', (code, signal) => {
      exited = code ?? -1;
      out.appendLine(`[sprig] embedded broker exited (${signal ?? code})`);
      if (this.child === child) this.child = undefined;
    });
    child.on('error', (err) => out.appendLine(`[sprig] cannot start the embedded broker: ${err.message}`));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.isRunning(projectDir)) return;
      if (exited !== null) {
        // Lost a race with another client that started one: that one is fine too.
        if (await this.isRunning(projectDir)) return;
        throw new Error(`the embedded broker exited with code ${exited} while starting; see the "Sprig Broker" output`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the embedded broker did not answer within ${timeoutMs / 1000} s; see the "Sprig Broker" output`);
  }

  /** Stop the broker of `projectDir`: ours, or the one broker.json names. Returns false if none ran. */
  async stop(projectDir: string): Promise<boolean> {
    if (this.ownsBroker(projectDir)) {
      await stopChild(this.child!, { graceMs: BROKER_GRACE_MS });
      return true;
    }
    // Through the runtime (loaded on first use): its broker client stays out of the extension's bundle.
    return (await runtime().stopEmbeddedBroker(projectDir)) !== 'none';
  }

  showOutput(): void {
    this.output?.show(true);
  }

  async dispose(): Promise<void> {
    if (this.child) await stopChild(this.child, { graceMs: BROKER_GRACE_MS });
    this.output?.dispose();
  }
}

const BROKER_GRACE_MS = 5000;

/**
 * `--autoreload`: watch the tasks file and everything it imports (esbuild's metafile); on a change,
 * rebuild. A failed build keeps the old code running and is reported once with file and line; a
 * good one swaps the code: running tasks finish on the old code, new ones get the new code.
 */
import * as fs from 'node:fs';
import type { FSWatcher } from 'chokidar';
import { buildModule, TaskFileError } from '../app/loader.js';
import { duplicateTasks, duplicateTaskWarning, taskRegistry, registeredTaskNames } from '../app/registry.js';
import type { Task } from '../app/task.js';
import type { Worker } from './worker.js';
import type { Step } from './blueprint.js';

export class Autoreloader {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private lastError?: string;
  private running = false;
  private again = false;
  reloads = 0;

  constructor(
    private readonly w: Worker,
    private readonly debounceMs = 150,
  ) {}

  start(): void {
    const files = this.w.bundle?.inputs ?? [];
    // Loaded only with --autoreload.
    const { watch } = require('chokidar') as typeof import('chokidar');
    this.watcher = watch(files, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 } });
    this.watcher.on('all', () => this.schedule());
    this.w.log.info(`autoreload: watching ${files.length} file(s)`);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload(), this.debounceMs);
  }

  async reload(): Promise<boolean> {
    if (this.running) {
      this.again = true;
      return false;
    }
    this.running = true;
    try {
      return await this.reloadOnce();
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.schedule();
      }
    }
  }

  private async reloadOnce(): Promise<boolean> {
    const w = this.w;
    const file = w.tasksFile!;
    let built: { outfile: string; inputs: string[] };
    try {
      built = await buildModule(file);
    } catch (err) {
      this.fail(err as Error, file);
      return false;
    }
    // Swap the registry; put the old one back if the new code throws while loading.
    const registry = taskRegistry();
    const old = new Map<string, Task>(registry);
    registry.clear();
    const knownDuplicates = duplicateTasks().length;
    try {
      require(built.outfile);
    } catch (err) {
      registry.clear();
      for (const [k, v] of old) registry.set(k, v);
      fs.rmSync(built.outfile, { force: true });
      this.fail(err as Error, file);
      return false;
    }
    w.applyTaskRateLimits();
    const previous = w.bundle;
    if (previous) {
      w.bundle = { ...previous, outfile: built.outfile, inputs: built.inputs, dispose: () => fs.rmSync(built.outfile, { force: true }) };
      // Children that are still starting may be reading the old file: remove it a little later.
      setTimeout(() => previous.dispose(), 10_000).unref();
    }
    await w.pool.reload?.(built.outfile);
    this.watcher?.add(built.inputs);
    this.lastError = undefined;
    this.reloads++;
    w.log.info(`autoreload: loaded new code from ${file} (tasks: ${registeredTaskNames().join(', ')})`);
    // Two task('same name', ...) in the new code: warned as at start.
    for (const d of duplicateTasks().slice(knownDuplicates)) w.log.warn(duplicateTaskWarning(d));
    w.events.send({ type: 'worker-reload', ok: true, file });
    w.emit('reload', { ok: true });
    return true;
  }

  private fail(err: Error, file: string): void {
    const msg = err.message;
    if (msg !== this.lastError) {
      // Reported once per distinct error; the old code keeps running.
      this.w.log.error(`autoreload: ${msg} — still running the previous code`);
      this.w.events.send({ type: 'worker-reload', ok: false, error: msg, file: err instanceof TaskFileError && err.file ? err.file : file });
    }
    this.lastError = msg;
    this.w.emit('reload', { ok: false, error: msg });
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.watcher?.close();
  }
}

export const autoreloadStep: Step<Worker> = {
  name: 'autoreload',
  requires: ['consumer'],
  start(w) {
    if (!w.config.worker?.autoreload || !w.tasksFile) return;
    w.autoreloader = new Autoreloader(w);
    w.autoreloader.start();
  },
  async stop(w) {
    await w.autoreloader?.stop();
  },
};

import * as fs from 'node:fs';
import { buildModule } from '../app/loader.js';
import type { Step } from './blueprint.js';
import type { Worker } from './worker.js';

/** A built tasks file: the worker requires it, pool children require the same bundle. */
export interface TasksBundle {
  file: string;
  outfile: string;
  inputs: string[];
  exports: Record<string, unknown>;
  /** Bootsteps the tasks file exports as `bootsteps` (user components). */
  userSteps: Step<Worker>[];
  dispose(): void;
}

function isStep(v: unknown): v is Step<Worker> {
  return !!v && typeof v === 'object' && typeof (v as Step).name === 'string';
}

export async function loadTasksBundle(file: string): Promise<TasksBundle> {
  process.setSourceMapsEnabled(true);
  const { outfile, inputs } = await buildModule(file);
  const exports = require(outfile) as Record<string, unknown>;
  const raw = exports.bootsteps;
  const userSteps = Array.isArray(raw) ? raw.filter(isStep) : [];
  return {
    file,
    outfile,
    inputs,
    exports,
    userSteps,
    dispose: () => {
      delete require.cache[outfile];
      fs.rmSync(outfile, { force: true });
    },
  };
}

import { SprigError, TaskError } from '../errors.js';

/** Print a command's failure and return its exit code: 1 task failed / runtime error, 2 configuration. */
export function reportError(err: unknown): number {
  if (err instanceof TaskError) {
    process.stderr.write(`sprig: ${err.message}\n${err.traceback ? err.traceback.trimEnd() + '\n' : ''}`);
    return 1;
  }
  if (err instanceof SprigError) {
    process.stderr.write(`sprig: ${err.message}\n`);
    return err.code === 'E_CONFIG' ? 2 : 1;
  }
  process.stderr.write(`sprig: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}

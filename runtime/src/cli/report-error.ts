import { SprigError, TaskError } from '../errors.js';
import { taskTraceback } from '../app/traceback.js';

export interface ReportOptions {
  /** A failed task's traceback with the runtime's own frames (`--verbose`). */
  verbose?: boolean;
  /** The failed task's name: its frame is named after it. */
  taskName?: string;
}

/** Print a command's failure and return its exit code: 1 task failed / runtime error, 2 configuration. */
export function reportError(err: unknown, opts: ReportOptions = {}): number {
  if (err instanceof TaskError) {
    process.stderr.write(`sprig: ${err.message}\n${taskFrames(err, opts)}`);
    return 1;
  }
  if (err instanceof SprigError) {
    process.stderr.write(`sprig: ${err.message}\n`);
    return err.code === 'E_CONFIG' ? 2 : 1;
  }
  process.stderr.write(`sprig: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}

/** The frames of a failed task's traceback, without its first line(s) when they repeat the message. */
function taskFrames(err: TaskError, opts: ReportOptions): string {
  let tb = (err.traceback ?? '').replace(/\r\n/g, '\n');
  if (tb.startsWith(err.message)) tb = tb.slice(err.message.length);
  tb = taskTraceback(tb, { taskName: opts.taskName, verbose: opts.verbose }).replace(/^\n+/, '').trimEnd();
  return tb ? `${tb}\n` : '';
}

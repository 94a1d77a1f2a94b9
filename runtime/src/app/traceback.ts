/**
 * A task's traceback as a person reads it (the CLI, the editor): its frames named after the task,
 * and the runtime's own frames and Node's internals left out, so the first frame is the user's
 * line. The traceback stored with the result is not changed: `verbose` shows every frame.
 */

/**
 * Frames of Sprig's own code, wherever it is installed: the runtime bundle (the sprig-queue
 * package's dist/, the extension's dist/runtime/, the repo's runtime/dist/) by its file names,
 * the sources under runtime/src/ by their folders; Node's internals; OpenTelemetry's context manager.
 */
const RUNTIME_FRAME = new RegExp(
  [
    String.raw`[/\\](?:dist[/\\]runtime|runtime[/\\]dist|node_modules[/\\]sprig(?:-queue)?[/\\]dist)[/\\](?:index|cli|pool-child)\.js:\d`,
    String.raw`[/\\]runtime[/\\]src[/\\](?:app|backends|brokers|cli|compression|control|events|protocol|serialization|util|worker)[/\\][^/\\]+\.ts:\d`,
    String.raw`[(\s]node:[a-z_]`,
    // OpenTelemetry's context manager runs a traced task: its frames are the runtime's too.
    String.raw`[/\\]node_modules[/\\]@opentelemetry[/\\]`,
  ].join('|'),
);

const FRAME = /^\s+at /;

export function isRuntimeFrame(line: string): boolean {
  return FRAME.test(line) && RUNTIME_FRAME.test(line);
}

export interface TracebackOptions {
  /** Names the frame of a task function the runtime called as `task.fn` (`Object.fn`). */
  taskName?: string | null;
  /** Keep every frame (the runtime's and Node's too). */
  verbose?: boolean;
}

/**
 * `at Object.add [as fn] (...)` and `at Object.add (...)` (a task function named after its task,
 * called as `task.fn`), and `at Object.fn (...)` (an anonymous one, from an older worker), become
 * `at add (...)`.
 */
export function nameTaskFrames(traceback: string, taskName?: string | null): string {
  let out = traceback.replace(/^(\s+at (?:async )?)Object\.(\S.*?) \[as fn\] \(/gm, '$1$2 (');
  if (taskName) {
    const own = new RegExp(String.raw`^(\s+at (?:async )?)Object\.(?:fn|${taskName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}) \(`, 'gm');
    out = out.replace(own, (_, at: string) => `${at}${taskName} (`);
  }
  return out;
}

export function taskTraceback(traceback: string, opts: TracebackOptions = {}): string {
  const named = nameTaskFrames(traceback, opts.taskName);
  if (opts.verbose) return named;
  return named
    .split('\n')
    .filter((l) => !isRuntimeFrame(l))
    .join('\n');
}

export interface FrameLocation {
  file: string;
  /** 1-based. */
  line: number;
  column: number;
}

// JS: "    at fn (/abs/tasks.ts:5:9)", "    at /abs/tasks.ts:5:9", "    at async fn (file:///abs/x.js:1:2)"
const JS_FRAME = /^\s+at\s+(?:.*?\()?((?:file:\/\/)?(?:[A-Za-z]:)?[^():\s][^():]*):(\d+):(\d+)\)?\s*$/;
// Python: '  File "/abs/tasks.py", line 12, in add'
const PY_FRAME = /^\s*File "([^"]+)", line (\d+)/;

/** The first frame in the user's code (absolute path, not the runtime, not node_modules): where a failure toast links to. */
export function firstUserLocation(traceback: string | null | undefined): FrameLocation | undefined {
  for (const line of (traceback ?? '').split(/\r?\n/)) {
    if (isRuntimeFrame(line) || /[/\\]node_modules[/\\]/.test(line)) continue;
    const js = JS_FRAME.exec(line);
    const py = js ? undefined : PY_FRAME.exec(line);
    let file = js?.[1] ?? py?.[1];
    if (!file) continue;
    if (file.startsWith('file://')) file = decodeURIComponent(file.slice('file://'.length));
    if (!file.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(file)) continue;
    return { file, line: Number(js?.[2] ?? py![2]), column: js ? Number(js[3]) : 1 };
  }
  return undefined;
}

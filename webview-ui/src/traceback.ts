/** Traceback lines → frames with a file location the monitor can link to (pure, no DOM). */

export interface FrameLocation {
  file: string;
  /** 1-based. */
  line: number;
  column: number;
}

export interface TracebackLine {
  text: string;
  loc?: FrameLocation;
}

// JS:  "    at fn (/abs/tasks.ts:5:9)", "    at /abs/tasks.ts:5:9", "    at async fn (file:///abs/x.js:1:2)"
const JS_FRAME = /\bat\s+(?:.*?\()?((?:file:\/\/)?(?:[A-Za-z]:)?[^():\s][^():]*):(\d+):(\d+)\)?\s*$/;
// Python: '  File "/abs/tasks.py", line 12, in add'
const PY_FRAME = /^\s*File "([^"]+)", line (\d+)/;

export function parseTraceback(tb: string | null | undefined): TracebackLine[] {
  if (!tb) return [];
  return tb
    .replace(/\r\n/g, '\n')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((text) => {
      const js = JS_FRAME.exec(text);
      if (js && !/^node:|^internal\//.test(js[1]!)) {
        let file = js[1]!;
        if (file.startsWith('file://')) file = decodeURIComponent(file.slice('file://'.length));
        if (isLinkable(file)) return { text, loc: { file, line: Number(js[2]), column: Number(js[3]) } };
      }
      const py = PY_FRAME.exec(text);
      if (py && isLinkable(py[1]!)) return { text, loc: { file: py[1]!, line: Number(py[2]), column: 1 } };
      return { text };
    });
}

/** Absolute paths only: a frame in `node:internal` or `<anonymous>` opens nothing. */
function isLinkable(file: string): boolean {
  return file.startsWith('/') || /^[A-Za-z]:[\\/]/.test(file);
}

/** True when the frame is in the user's code, not in node_modules or Sprig's own bundle. */
export function isUserFrame(loc: FrameLocation): boolean {
  return !/[\\/]node_modules[\\/]|[\\/]dist[\\/]runtime[\\/]|[\\/]\.sprig[\\/]build[\\/]/.test(loc.file);
}

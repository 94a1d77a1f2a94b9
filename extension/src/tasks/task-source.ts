/**
 * Task definitions read from the text of a tasks file (no execution, no editor API): a tasks file
 * imports from 'sprig-queue' (or its alias 'sprig') and calls `task('name', ...)` (or
 * `app.task('name', ...)`); the parameters are read from the function written inline.
 */
export interface TaskDefinition {
  name: string;
  file: string;
  /** 0-based line and character of `task(`. */
  line: number;
  character: number;
  /**
   * The parameters a call passes, as written in the source (`['a: number', 'b: number']`; a bound
   * task's context left out); undefined when the function is not written inline.
   */
  params?: string[];
}

const SPRIG_IMPORT = /(?:from\s+|require\s*\(\s*)['"]sprig(?:-queue)?['"]/;
const TASK_CALL = /\btask\s*\(\s*(['"`])((?:(?!\1)[^\\\n]|\\.)+)\1/g;

export function isTasksFileText(text: string): boolean {
  return SPRIG_IMPORT.test(text) && /\btask\s*\(/.test(text);
}

/** Every `task('name'` in the text, in order. */
export function findTaskDefinitions(text: string, file = ''): TaskDefinition[] {
  if (!isTasksFileText(text)) return [];
  const defs: TaskDefinition[] = [];
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  TASK_CALL.lastIndex = 0;
  for (let m = TASK_CALL.exec(text); m; m = TASK_CALL.exec(text)) {
    const at = m.index;
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    // Skip matches inside line comments.
    const lineText = text.slice(lineStarts[lo], at);
    if (/\/\//.test(lineText)) continue;
    defs.push({ name: m[2]!, file, line: lo, character: at - lineStarts[lo]!, params: taskParameters(text, at + m[0].length) });
  }
  return defs;
}

const OPEN = '([{';
const CLOSE = ')]}';

/** Index just past the bracket that closes the one at `open` (strings and template literals skipped); -1 if none. */
function closing(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'" || c === '`') {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === '\\') i++;
    } else if (OPEN.includes(c)) depth++;
    else if (CLOSE.includes(c) && --depth === 0) return i + 1;
  }
  return -1;
}

/** Split at the commas outside brackets, type arguments and strings. */
function splitTopLevel(list: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const c = list[i]!;
    if (c === '"' || c === "'" || c === '`') {
      for (i++; i < list.length && list[i] !== c; i++) if (list[i] === '\\') i++;
    } else if (c === '=' && list[i + 1] === '>') i++;
    else if (OPEN.includes(c) || c === '<') depth++;
    else if (CLOSE.includes(c) || c === '>') depth--;
    else if (c === ',' && depth === 0) {
      out.push(list.slice(start, i));
      start = i + 1;
    }
  }
  out.push(list.slice(start));
  return out.map((p) => p.trim().replace(/\s+/g, ' ')).filter(Boolean);
}

/**
 * The parameter list of the function written right after `task('name',` (at `from`): an arrow
 * function, `async`, or a function expression; a bound task (`bind: true`) without its context.
 */
export function taskParameters(text: string, from: number): string[] | undefined {
  const rest = text.slice(from);
  const head = /^\s*,\s*(?:async\s+)?(?:function\s*\*?\s*[\w$]*\s*(?=\()|(?=\()|([\w$]+)\s*=>)/.exec(rest);
  if (!head) return undefined;
  let params: string[];
  let end: number;
  if (head[1]) {
    params = [head[1]];
    end = from + head[0].length;
  } else {
    const open = from + head[0].length;
    end = closing(text, open);
    if (end < 0) return undefined;
    params = splitTopLevel(text.slice(open + 1, end - 1));
  }
  // The options come after the function: the call's closing parenthesis ends them.
  const callOpen = text.lastIndexOf('(', from);
  const callEnd = closing(text, callOpen);
  const after = text.slice(end, callEnd < 0 ? undefined : callEnd);
  return /\bbind\s*:\s*true\b/.test(after) ? params.slice(1) : params;
}

/** The definition the cursor is in or below (the nearest one starting at or above `line`). */
export function definitionAt(defs: readonly TaskDefinition[], line: number): TaskDefinition | undefined {
  let best: TaskDefinition | undefined;
  for (const d of defs) if (d.line <= line) best = d;
  return best ?? defs[0];
}

/**
 * The interactive screen of `sprig events` (like `celery events`): a workers panel, task counts by
 * state, the tasks (one line each, coloured by state, a cursor to select one), a tail of recent
 * events (the task named on every line), a task's details with its traceback, and revoke/terminate
 * with a confirmation. Pure: keys in, actions and frames of text out (the command does the I/O),
 * so unit tests drive it without a terminal.
 */
import { ClusterState, EVENT_STATE, TASK_STATES, type TaskInfo, type TaskStateName } from '../events/state.js';
import type { SprigEvent } from '../events/types.js';
import type { EventGap } from '../events/receiver.js';

const TAIL = 200;

/** What a key asks the command to do. */
export type ViewAction = { type: 'quit' } | { type: 'revoke'; taskId: string; name: string | null; terminate: boolean };

export const ANSI = {
  home: '\x1b[H',
  clearDown: '\x1b[J',
  clearLine: '\x1b[K',
  altOn: '\x1b[?1049h',
  altOff: '\x1b[?1049l',
  hideCursor: '\x1b[?25l',
  showCursor: '\x1b[?25h',
  bold: (s: string) => `\x1b[1m${s}\x1b[22m`,
  dim: (s: string) => `\x1b[2m${s}\x1b[22m`,
  inverse: (s: string) => `\x1b[7m${s}\x1b[27m`,
  green: (s: string) => `\x1b[32m${s}\x1b[39m`,
  red: (s: string) => `\x1b[31m${s}\x1b[39m`,
  yellow: (s: string) => `\x1b[33m${s}\x1b[39m`,
  blue: (s: string) => `\x1b[34m${s}\x1b[39m`,
  cyan: (s: string) => `\x1b[36m${s}\x1b[39m`,
};

const plain = (s: string) => s;

export const STATE_COLOR: Record<TaskStateName, (s: string) => string> = {
  PENDING: plain,
  RECEIVED: ANSI.cyan,
  STARTED: ANSI.blue,
  RETRY: ANSI.yellow,
  SUCCESS: ANSI.green,
  FAILURE: ANSI.red,
  REVOKED: ANSI.yellow,
  REJECTED: ANSI.red,
};

export function eventColor(type: string): (s: string) => string {
  if (type === 'worker-online') return ANSI.green;
  if (type === 'worker-offline') return ANSI.red;
  const s = (EVENT_STATE as Partial<Record<string, TaskStateName>>)[type];
  return s ? STATE_COLOR[s] : plain;
}

/**
 * Where a task's events come in its life: a task-sent (published by the client) can arrive after
 * the worker's task-received, but it happened before it.
 */
const LIFE_ORDER: Partial<Record<SprigEvent['type'], number>> = { 'task-sent': 0, 'task-received': 1, 'task-started': 2 };

export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : '-';
}

export function clockTime(ts: number): string {
  const d = new Date(ts * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, Math.max(0, n - 1))}…` : s;
}

/** `name[id]` of a task event: the name from the event, else from what the state knows. */
function taskLabel(name: string | null | undefined, uuid: string | null | undefined, idLen?: number): string {
  return `${name ?? ''}[${uuid ? (idLen ? uuid.slice(0, idLen) : uuid) : '-'}]`;
}

/**
 * What an event says after its type: the task named on every line (`names` fills in events that
 * do not carry the name: started, succeeded, ...). `idLen` shortens ids (the live view).
 */
export function describeEvent(e: SprigEvent, names?: (uuid: string) => string | null | undefined, idLen?: number): string {
  const label = (uuid: string, name?: string | null) => taskLabel(name ?? names?.(uuid), uuid, idLen);
  switch (e.type) {
    case 'task-sent':
      return `${label(e.uuid, e.name)} ${e.args} ${e.kwargs} -> ${e.queue}`;
    case 'task-received':
      return `${label(e.uuid, e.name)} ${e.args} ${e.kwargs}${e.eta ? ` eta=${e.eta}` : ''}${e.retries ? ` retries=${e.retries}` : ''}`;
    case 'task-started':
      return label(e.uuid);
    case 'task-succeeded':
      return `${label(e.uuid)} in ${Number(e.runtime).toFixed(4)}s: ${e.result}`;
    case 'task-failed':
    case 'task-retried':
      return `${label(e.uuid)} ${e.exception}`;
    case 'task-revoked':
      return `${label(e.uuid)}${e.expired ? ' expired' : ''}${e.terminated ? ' terminated' : ''}`;
    case 'task-rejected':
      return `${taskLabel(e.name ?? (e.uuid ? names?.(e.uuid) : undefined), e.uuid, idLen)}${e.reason ? ` ${e.reason}` : ''}`;
    case 'worker-online':
    case 'worker-heartbeat':
    case 'worker-offline':
      return `active=${e.active} processed=${e.processed} load=${(e.loadavg ?? []).join(',')} ${e.sw_ident ?? ''} ${e.sw_ver ?? ''}`.trimEnd();
    case 'worker-reload':
      return e.ok ? `reloaded ${e.file ?? ''}`.trimEnd() : `reload failed: ${e.error ?? ''}`;
    default: {
      const { type: _t, hostname: _h, pid: _p, clock: _c, timestamp: _ts, utcoffset: _u, local_received: _l, ...rest } = e as SprigEvent & Record<string, unknown>;
      return JSON.stringify(rest);
    }
  }
}

/**
 * Puts `e` into `list` (events in arrival order) where its task's life puts it: a task-sent (or
 * task-received) that arrives after a later event of its task goes before it. Others go last.
 */
export function insertInLifeOrder(list: SprigEvent[], e: SprigEvent): void {
  const rank = LIFE_ORDER[e.type];
  const uuid = (e as { uuid?: string | null }).uuid;
  let at = list.length;
  if (rank !== undefined && uuid) {
    for (let i = list.length - 1; i >= 0; i--) {
      const o = list[i]!;
      if ((o as { uuid?: string | null }).uuid !== uuid) continue;
      const r = LIFE_ORDER[o.type] ?? 3;
      if (r > rank) at = i;
      else break;
    }
  }
  list.splice(at, 0, e);
}

// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[0-9;]*m/g;

/** Visible length (SGR colour codes do not count). */
export function visibleLength(s: string): number {
  return s.replace(SGR, '').length;
}

/** Keep a line within the terminal width; a line too long loses its colours rather than wrap. */
function fit(line: string, width: number): string {
  const text = line.replace(SGR, '');
  return text.length <= width ? line : clip(text, width);
}

/** Raw terminal input as keys: arrows and other escape sequences stay whole. */
export function splitKeys(data: string): string[] {
  const keys: string[] = [];
  // CSI (ESC [ ... final), SS3 (ESC O x), ESC alone, or one character.
  const re = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1bO.|\x1b|[\s\S]/g; // eslint-disable-line no-control-regex
  for (const m of data.matchAll(re)) keys.push(m[0]);
  return keys;
}

const KEY = {
  up: new Set(['\x1b[A', '\x1bOA', 'k']),
  down: new Set(['\x1b[B', '\x1bOB', 'j']),
  right: new Set(['\x1b[C', '\x1bOC', '\r', '\n']),
  left: new Set(['\x1b[D', '\x1bOD', '\x7f', '\b']),
  pageUp: new Set(['\x1b[5~']),
  pageDown: new Set(['\x1b[6~']),
  home: new Set(['\x1b[H', '\x1b[1~', '\x1bOH', 'g']),
  end: new Set(['\x1b[F', '\x1b[4~', '\x1bOF', 'G']),
};

type Screen = 'list' | 'detail';

const HELP_LIST = '↑↓ select  Enter details  r revoke  t terminate  w workers  q quit';
const HELP_DETAIL = '← back  r revoke  t terminate  q quit';

export class LiveView {
  readonly state = new ClusterState({ maxTasks: 10_000 });
  private readonly tail: SprigEvent[] = [];
  /** The last reconnect, shown under the title: events in it may be missing. */
  gap?: EventGap;
  showWorkers = true;
  private screen: Screen = 'list';
  /** The selected task's id (it keeps its task as new ones come). */
  selected?: string;
  /** A revoke/terminate waiting for y/n. */
  private confirming?: { taskId: string; terminate: boolean };
  /** A one-line message (the outcome of a revoke), until the next key. */
  note = '';
  /** Tasks shown in the list at the last frame (for Page Up/Down). */
  private listRoom = 10;

  constructor(private readonly brokerUrl: string) {}

  add(e: SprigEvent): void {
    this.state.apply(e);
    if (e.type === 'worker-heartbeat') return; // shown as the heartbeat age, not in the tail
    insertInLifeOrder(this.tail, e);
    if (this.tail.length > TAIL) this.tail.shift();
  }

  get screenName(): Screen {
    return this.screen;
  }

  /** Tasks oldest first (by when they were sent, else first seen). */
  tasks(): TaskInfo[] {
    const all = [...this.state.tasks.values()];
    const when = (t: TaskInfo) => t.sent ?? t.received ?? t.started ?? t.timestamp;
    return all.sort((a, b) => when(a) - when(b));
  }

  /** Handles one key; returns what the command must do, if anything. */
  key(k: string): ViewAction | undefined {
    if (this.confirming) {
      const c = this.confirming;
      this.confirming = undefined;
      if (k === 'y' || k === 'Y') {
        const t = this.state.tasks.get(c.taskId);
        return { type: 'revoke', taskId: c.taskId, name: t?.name ?? null, terminate: c.terminate };
      }
      this.note = 'cancelled';
      return undefined;
    }
    this.note = '';
    if (k === 'q' || k === '\u0003') return { type: 'quit' };
    if (k === '\x1b') {
      if (this.screen === 'detail') this.screen = 'list';
      else return { type: 'quit' };
      return undefined;
    }
    if (k === 'w') {
      this.showWorkers = !this.showWorkers;
      return undefined;
    }
    if (k === 'r' || k === 't') {
      if (!this.selected || !this.state.tasks.has(this.selected)) this.note = 'select a task first (↑↓)';
      else this.confirming = { taskId: this.selected, terminate: k === 't' };
      return undefined;
    }
    if (this.screen === 'detail') {
      if (KEY.left.has(k)) this.screen = 'list';
      return undefined;
    }
    if (KEY.right.has(k)) {
      if (this.selected && this.state.tasks.has(this.selected)) this.screen = 'detail';
      else this.note = 'select a task first (↑↓)';
      return undefined;
    }
    const step = KEY.up.has(k) ? -1 : KEY.down.has(k) ? 1 : KEY.pageUp.has(k) ? -this.listRoom : KEY.pageDown.has(k) ? this.listRoom : KEY.home.has(k) ? -Infinity : KEY.end.has(k) ? Infinity : 0;
    if (step) this.move(step);
    return undefined;
  }

  private move(step: number): void {
    const tasks = this.tasks();
    if (!tasks.length) return;
    const at = this.selected ? tasks.findIndex((t) => t.uuid === this.selected) : -1;
    // Nothing selected yet: the first key lands on the newest task.
    const next = at < 0 ? tasks.length - 1 : Math.max(0, Math.min(tasks.length - 1, at + (Number.isFinite(step) ? step : step > 0 ? tasks.length : -tasks.length)));
    this.selected = tasks[next]!.uuid;
  }

  frame(cols: number, rows: number, now = Date.now() / 1000): string[] {
    const w = Math.max(20, cols);
    const lines: string[] = [];
    lines.push(ANSI.bold(clip(`sprig events  ${this.brokerUrl}  ${this.state.eventCount} events`, w)));
    const c = this.confirming;
    if (c) {
      const t = this.state.tasks.get(c.taskId);
      lines.push(ANSI.yellow(`${c.terminate ? 'Terminate (SIGTERM)' : 'Revoke'} ${taskLabel(t?.name, c.taskId, 8)}? y/n`));
    } else if (this.note) lines.push(ANSI.yellow(this.note));
    else lines.push(this.gap ? ANSI.yellow(gapNote(this.gap)) : '');
    const body = this.screen === 'detail' && this.selected ? this.detailLines(w, now) : this.listLines(w, rows - lines.length - 1, now);
    lines.push(...body.slice(0, Math.max(0, rows - lines.length - 1)));
    while (lines.length < rows - 1) lines.push('');
    lines.push(ANSI.dim(this.screen === 'detail' ? HELP_DETAIL : HELP_LIST));
    return lines.map((l) => fit(l, w));
  }

  private listLines(w: number, room: number, now: number): string[] {
    const lines: string[] = [];
    const workers = [...this.state.workers.values()];
    const online = workers.filter((x) => this.state.isAlive(x, now)).length;
    lines.push(ANSI.bold(`Workers (${online}/${workers.length} online)`) + (this.showWorkers ? '' : ANSI.dim('  w: show')));
    if (this.showWorkers) {
      if (!workers.length) lines.push(ANSI.dim('  none seen yet (workers send events with -E)'));
      for (const x of workers.slice(0, Math.max(1, Math.floor(room / 4)))) {
        // Known from its task events only (no heartbeat seen yet): neither online nor offline.
        const status = !x.lastHeartbeat && !x.heartbeats.length && !x.swIdent ? ANSI.dim('unknown') : this.state.isAlive(x, now) ? ANSI.green('online ') : ANSI.red('offline');
        const age = x.lastHeartbeat ? `${Math.max(0, now - x.lastHeartbeat).toFixed(1)}s ago` : 'no heartbeat';
        const reload = x.reloadError ? ANSI.red('  reload failed') : '';
        lines.push(`  ${status} ${clip(x.hostname, Math.max(10, w - 50))}  active ${x.active}  processed ${x.processed}  heartbeat ${age}${reload}`);
      }
    }
    const counts = this.state.countByState();
    lines.push(TASK_STATES.filter((s) => counts[s]).map((s) => STATE_COLOR[s](`${s} ${counts[s]}`)).join('  ') || ANSI.dim('no tasks yet'));
    // The rest: tasks (up to 3/5 of it) and the tail of events (what the tasks leave).
    const available = Math.max(2, room - lines.length - 2);
    const taskRoom = Math.max(1, Math.min(this.state.tasks.size, Math.ceil(available * 0.6)));
    const tailRoom = available - taskRoom;
    this.listRoom = taskRoom;
    lines.push(ANSI.bold('Tasks'));
    lines.push(...this.taskLines(w, taskRoom, now));
    if (tailRoom > 0) {
      lines.push(ANSI.bold('Events'));
      const names = (id: string) => this.state.tasks.get(id)?.name;
      for (const e of this.tail.slice(-tailRoom)) {
        lines.push(eventColor(e.type)(`${clockTime(e.timestamp).slice(0, 8)} ${e.type.replace(/^task-/, '').padEnd(9)} ${describeEvent(e, names, 8)} ${ANSI.dim(e.hostname)}`));
      }
    }
    return lines;
  }

  private taskLines(w: number, room: number, now: number): string[] {
    const tasks = this.tasks();
    if (!tasks.length) return [ANSI.dim('  none yet')];
    let at = this.selected ? tasks.findIndex((t) => t.uuid === this.selected) : -1;
    if (at < 0) this.selected = undefined;
    // The window of tasks: the newest, or around the selected one.
    let start = Math.max(0, tasks.length - room);
    if (at >= 0 && at < start) start = at;
    if (at < 0) at = -1;
    const out: string[] = [];
    for (let i = start; i < Math.min(tasks.length, start + room); i++) {
      const t = tasks[i]!;
      const line = taskLine(t, w - 2, now);
      out.push(i === at ? ANSI.inverse(`> ${line}`) : `  ${STATE_COLOR[t.state](line)}`);
    }
    return out;
  }

  private detailLines(w: number, now: number): string[] {
    const t = this.state.tasks.get(this.selected!);
    if (!t) return [ANSI.dim('the task is no longer known')];
    const out: string[] = [ANSI.bold(`${t.name ?? '(unknown task)'}  `) + STATE_COLOR[t.state](t.state)];
    const field = (k: string, v: string | number | null | undefined) => {
      if (v === null || v === undefined || v === '') return;
      const text = String(v);
      out.push(`${ANSI.dim(k.padEnd(10))}${text}`);
    };
    field('id', t.uuid);
    field('worker', t.worker);
    field('queue', t.routingKey ?? t.queue);
    field('args', t.args);
    field('kwargs', t.kwargs);
    field('result', t.state === 'SUCCESS' ? t.result : null);
    field('exception', t.exception);
    field('retries', t.retries || null);
    field('runtime', t.runtime != null ? `${t.runtime.toFixed(4)}s` : t.started && t.state === 'STARTED' ? `running for ${(now - t.started).toFixed(1)}s` : null);
    field('eta', t.eta);
    field('expires', t.expires);
    field('parent', t.parentId);
    field('root', t.rootId !== t.uuid ? t.rootId : null);
    const times = (['sent', 'received', 'started', 'succeeded', 'failed', 'retried', 'revoked', 'rejected'] as const)
      .filter((k) => t[k])
      .map((k) => `${k} ${clockTime(t[k]!)}`)
      .join('  ');
    field('times', times);
    if (t.traceback) {
      out.push(ANSI.bold('Traceback'));
      for (const l of t.traceback.split('\n')) out.push(ANSI.red(l));
    }
    void w;
    return out;
  }
}

/** One task in the list: time, state, name, short id, worker, and what it did. */
export function taskLine(t: TaskInfo, width: number, now: number): string {
  const when = t.sent ?? t.received ?? t.timestamp;
  const info =
    t.state === 'SUCCESS'
      ? `${t.runtime != null ? `${t.runtime.toFixed(3)}s ` : ''}→ ${t.result ?? ''}`
      : t.state === 'FAILURE' || t.state === 'RETRY'
        ? (t.exception ?? '')
        : t.state === 'STARTED' && t.started
          ? `running ${Math.max(0, now - t.started).toFixed(0)}s`
          : t.eta && t.state === 'RECEIVED'
            ? `eta ${t.eta}`
            : (t.args ?? '');
  const nameWidth = Math.max(8, Math.min(24, width - 48));
  const head = `${clockTime(when).slice(0, 8)} ${t.state.padEnd(8)} ${clip(t.name ?? '?', nameWidth).padEnd(nameWidth)} ${shortId(t.uuid)} ${clip(t.worker ?? '-', 14).padEnd(14)}`;
  return clip(`${head} ${info}`, width);
}

/** What a reconnect means for the stream. */
export function gapNote(gap: EventGap): string {
  return `reconnected at ${clockTime(gap.to)}: events sent since ${clockTime(gap.from)} may be missing`;
}

/**
 * `sprig events`: watch the event stream like `celery events`. A live terminal view (workers,
 * task counts by state, a tail of recent events; ANSI, redrawn at most 4x a second), `--json`
 * (one event per line, for piping) or `--dump` (one readable line per event, like --dump in Celery).
 */
import type { Command } from 'commander';
import { ClusterState, TASK_STATES } from '../events/state.js';
import type { SprigEvent } from '../events/types.js';
import type { EventGap, EventReceiver } from '../events/receiver.js';
import { brokerOption, clientApp } from './client-commands.js';
import { reportError } from './report-error.js';

interface EventsFlags {
  broker?: string;
  resultBackend?: string;
  json?: boolean;
  dump?: boolean;
}

const REDRAW_MS = 250;
const TAIL = 200;

function clockTime(ts: number): string {
  const d = new Date(ts * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function isoTime(ts: number): string {
  return new Date(ts * 1000).toISOString().replace('T', ' ').replace('Z', '');
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, Math.max(0, n - 1))}…` : s;
}

/** What an event says, in one line after its type (no hostname or time). */
export function describeEvent(e: SprigEvent): string {
  switch (e.type) {
    case 'task-sent':
      return `${e.name}[${e.uuid}] ${e.args} ${e.kwargs} -> ${e.queue}`;
    case 'task-received':
      return `${e.name}[${e.uuid}] ${e.args} ${e.kwargs}${e.eta ? ` eta=${e.eta}` : ''}${e.retries ? ` retries=${e.retries}` : ''}`;
    case 'task-started':
      return `[${e.uuid}]`;
    case 'task-succeeded':
      return `[${e.uuid}] in ${Number(e.runtime).toFixed(4)}s: ${e.result}`;
    case 'task-failed':
    case 'task-retried':
      return `[${e.uuid}] ${e.exception}`;
    case 'task-revoked':
      return `[${e.uuid}]${e.expired ? ' expired' : ''}${e.terminated ? ' terminated' : ''}`;
    case 'task-rejected':
      return `${e.name ? `${e.name}` : ''}[${e.uuid ?? '-'}]${e.reason ? ` ${e.reason}` : ''}`;
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

/** Celery --dump style: `hostname [time] type: details`. */
export function dumpLine(e: SprigEvent): string {
  return `${e.hostname} [${isoTime(e.timestamp ?? e.local_received ?? Date.now() / 1000)}] ${e.type.replace('-', ' ')}: ${describeEvent(e)}`;
}

const ANSI = {
  home: '\x1b[H',
  clearDown: '\x1b[J',
  clearLine: '\x1b[K',
  altOn: '\x1b[?1049h',
  altOff: '\x1b[?1049l',
  hideCursor: '\x1b[?25l',
  showCursor: '\x1b[?25h',
  bold: (s: string) => `\x1b[1m${s}\x1b[22m`,
  dim: (s: string) => `\x1b[2m${s}\x1b[22m`,
  green: (s: string) => `\x1b[32m${s}\x1b[39m`,
  red: (s: string) => `\x1b[31m${s}\x1b[39m`,
  yellow: (s: string) => `\x1b[33m${s}\x1b[39m`,
};

const STATE_COLOR: Record<string, (s: string) => string> = {
  SUCCESS: ANSI.green,
  FAILURE: ANSI.red,
  REJECTED: ANSI.red,
  REVOKED: ANSI.yellow,
  RETRY: ANSI.yellow,
};

function eventColor(type: string): (s: string) => string {
  if (type === 'task-succeeded' || type === 'worker-online') return ANSI.green;
  if (type === 'task-failed' || type === 'task-rejected' || type === 'worker-offline') return ANSI.red;
  if (type === 'task-retried' || type === 'task-revoked') return ANSI.yellow;
  return (s) => s;
}

/** The live view: state plus a bounded tail, drawn as one frame of text. */
export class LiveView {
  readonly state = new ClusterState({ maxTasks: 10_000 });
  private readonly tail: SprigEvent[] = [];
  /** The last reconnect, shown under the title: events in it may be missing. */
  gap?: EventGap;

  constructor(private readonly brokerUrl: string) {}

  add(e: SprigEvent): void {
    this.state.apply(e);
    if (e.type === 'worker-heartbeat') return; // shown as the heartbeat age, not in the tail
    this.tail.push(e);
    if (this.tail.length > TAIL) this.tail.shift();
  }

  frame(cols: number, rows: number, now = Date.now() / 1000): string[] {
    const lines: string[] = [];
    const w = Math.max(20, cols);
    lines.push(ANSI.bold(clip(`sprig events  ${this.brokerUrl}  ${this.state.eventCount} events  (q or Ctrl-C to quit)`, w)));
    lines.push(this.gap ? ANSI.yellow(clip(gapNote(this.gap), w)) : '');
    const workers = [...this.state.workers.values()];
    lines.push(ANSI.bold(`Workers (${workers.filter((x) => this.state.isAlive(x, now)).length}/${workers.length} online)`));
    if (!workers.length) lines.push(ANSI.dim('  none seen yet (workers send events with -E)'));
    for (const x of workers) {
      const alive = this.state.isAlive(x, now);
      const status = alive ? ANSI.green('online ') : ANSI.red('offline');
      const age = x.lastHeartbeat ? `heartbeat ${Math.max(0, now - x.lastHeartbeat).toFixed(1)}s ago` : 'no heartbeat';
      lines.push(`  ${status} ${clip(x.hostname, Math.max(10, w - 60))}  ${age}  active ${x.active}  processed ${x.processed}`);
    }
    lines.push('');
    const counts = this.state.countByState();
    lines.push(ANSI.bold('Tasks ') + TASK_STATES.map((s) => `${(STATE_COLOR[s] ?? ((v: string) => v))(s)} ${counts[s]}`).join('  '));
    lines.push('');
    lines.push(ANSI.bold('Recent events'));
    const room = Math.max(1, rows - lines.length - 1);
    for (const e of this.tail.slice(-room)) {
      const text = `${clockTime(e.timestamp)} ${e.type.padEnd(15)} ${e.hostname}  ${describeEvent(e)}`;
      const clipped = clip(text, w);
      lines.push(eventColor(e.type)(clipped));
    }
    return lines.map((l) => fit(l, w));
  }
}

// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[0-9;]*m/g;

/** Keep a line within the terminal width; a line too long loses its colours rather than wrap. */
function fit(line: string, width: number): string {
  const plain = line.replace(SGR, '');
  return plain.length <= width ? line : clip(plain, width);
}

/** What a reconnect means for the stream. */
export function gapNote(gap: EventGap): string {
  return `reconnected at ${clockTime(gap.to)}: events sent since ${clockTime(gap.from)} may be missing`;
}

export function registerEventsCommand(program: Command): void {
  brokerOption(
    program
      .command('events')
      .description('watch the event stream: a live view, or --json / --dump lines')
      .option('--json', 'print each event as one JSON line (for piping)')
      .option('--dump', 'print each event as one readable line, like celery events --dump'),
  ).action(async (o: EventsFlags) => {
    const app = clientApp(o);
    let receiver: EventReceiver | undefined;
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    const tty = !!process.stdout.isTTY;
    const mode = o.json ? 'json' : o.dump || !tty ? 'dump' : 'live';
    let view: LiveView | undefined;
    let timer: NodeJS.Timeout | undefined;
    let dirty = false;
    let lastDraw = 0;
    const draw = () => {
      if (!view) return;
      dirty = false;
      lastDraw = Date.now();
      const lines = view.frame(process.stdout.columns ?? 100, process.stdout.rows ?? 30);
      process.stdout.write(ANSI.home + lines.map((l) => l + ANSI.clearLine).join('\n') + ANSI.clearDown);
    };
    const onSignal = () => finish();
    const restoreTty = () => {
      if (mode !== 'live') return;
      process.stdout.write(ANSI.showCursor + ANSI.altOff);
      if (process.stdin.isTTY) process.stdin.setRawMode(false);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const broker = await app.broker();
      if (mode === 'dump' && !o.dump && !tty) process.stderr.write('sprig: stdout is not a terminal; printing events line by line (--dump)\n');
      if (mode === 'live') {
        view = new LiveView(broker.displayUrl);
        process.stdout.write(ANSI.altOn + ANSI.hideCursor);
        process.on('exit', restoreTty);
        if (process.stdin.isTTY) {
          process.stdin.setRawMode(true);
          process.stdin.resume();
          process.stdin.on('data', (d: Buffer) => {
            const k = d.toString();
            if (k === 'q' || k === '\u0003' || k === '\u001b') finish();
          });
        }
        process.stdout.on('resize', draw);
        // Redraw on events at most every REDRAW_MS, and every second anyway for heartbeat ages.
        timer = setInterval(() => {
          if (dirty || Date.now() - lastDraw >= 1000) draw();
        }, REDRAW_MS);
        draw();
      }
      receiver = app.events.receiver({
        '*': (e) => {
          const ev = e.local_received === undefined ? { ...e, local_received: Date.now() / 1000 } : e;
          if (mode === 'json') process.stdout.write(`${JSON.stringify(ev)}\n`);
          else if (mode === 'dump') process.stdout.write(`${dumpLine(ev)}\n`);
          else {
            view!.add(ev);
            dirty = true;
          }
        },
        reconnected: (gap) => {
          if (view) {
            view.gap = gap;
            dirty = true;
          } else process.stderr.write(`sprig: ${gapNote(gap)}\n`);
        },
      });
      await receiver.start();
      await done;
    } catch (err) {
      process.exitCode = reportError(err);
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      clearInterval(timer);
      restoreTty();
      process.removeListener('exit', restoreTty);
      if (process.stdin.isTTY) process.stdin.pause();
      await receiver?.close().catch(() => undefined);
      await app.close();
    }
  });
}

/**
 * `sprig events`: watch the event stream like `celery events`. An interactive terminal view
 * (events-view.ts: select a task, its details and traceback, revoke or terminate it, a workers
 * panel; redrawn at most 4x a second), `--json` (one event per line, for piping) or `--dump` (one
 * readable line per event, like --dump in Celery).
 */
import type { Command } from 'commander';
import { ClusterState } from '../events/state.js';
import type { SprigEvent } from '../events/types.js';
import type { EventGap, EventReceiver } from '../events/receiver.js';
import { brokerOption, clientApp } from './client-commands.js';
import { reportError } from './report-error.js';
import { ANSI, describeEvent, gapNote, LiveView, splitKeys } from './events-view.js';
import type { App } from '../app/app.js';
import { matchesQuery, parseTaskQuery, type TaskQuery } from '../events/query.js';

export { describeEvent, gapNote, LiveView } from './events-view.js';

interface EventsFlags {
  broker?: string;
  resultBackend?: string;
  json?: boolean;
  dump?: boolean;
  interactive?: boolean;
  filter?: string;
}

const REDRAW_MS = 250;

function isoTime(ts: number): string {
  return new Date(ts * 1000).toISOString().replace('T', ' ').replace('Z', '');
}

/** Celery --dump style: `hostname [time] type: details`, the task named (from `names`) on every line. */
export function dumpLine(e: SprigEvent, names?: (uuid: string) => string | null | undefined): string {
  return `${e.hostname} [${isoTime(e.timestamp ?? e.local_received ?? Date.now() / 1000)}] ${e.type.replace('-', ' ')}: ${describeEvent(e, names)}`;
}

/** Revoke (or terminate) from the live view; the outcome becomes its note. */
async function revoke(app: App, view: LiveView, taskId: string, name: string | null, terminate: boolean): Promise<void> {
  const what = `${terminate ? 'terminate' : 'revoke'} ${name ?? '?'}[${taskId.slice(0, 8)}]`;
  try {
    const replies = await app.control.revoke(taskId, { terminate, timeout: 1 });
    view.note = replies.length ? `${what}: sent, ${replies.length} worker(s) replied` : `${what}: sent; no worker replied (it is revoked when one receives it)`;
  } catch (err) {
    view.note = `${what} failed: ${(err as Error).message}`;
  }
}

export function registerEventsCommand(program: Command): void {
  brokerOption(
    program
      .command('events')
      .description('watch the event stream: an interactive view (select a task, revoke/terminate it), or --json / --dump lines')
      .option('--json', 'print each event as one JSON line (for piping)')
      .option('--dump', 'print each event as one readable line, like celery events --dump')
      .option('-i, --interactive', 'the interactive view even when stdout or stdin is not a terminal (keys read from stdin)')
      .option('--filter <query>', 'with --dump or --json: only the task events of tasks that match a query, e.g. \'name:charge state:FAILURE,RETRY args:"card"\' (docs/editor.md, Search); worker events pass'),
  ).action(async (o: EventsFlags) => {
    let filter: TaskQuery | undefined;
    if (o.filter !== undefined) {
      const q = parseTaskQuery(o.filter);
      if (!q.ok) {
        process.stderr.write(`sprig: --filter ${JSON.stringify(o.filter)}: ${q.error} (at character ${q.at + 1})\n`);
        process.exitCode = 2;
        return;
      }
      if (!o.json && !o.dump && (process.stdout.isTTY || o.interactive)) {
        process.stderr.write('sprig: --filter works with --dump or --json (the interactive view has its own keys)\n');
        process.exitCode = 2;
        return;
      }
      filter = q.query;
    }
    const app = clientApp(o);
    let receiver: EventReceiver | undefined;
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    const tty = !!process.stdout.isTTY;
    const mode = o.json ? 'json' : o.dump || (!tty && !o.interactive) ? 'dump' : 'live';
    let view: LiveView | undefined;
    let timer: NodeJS.Timeout | undefined;
    let dirty = false;
    let lastDraw = 0;
    const draw = () => {
      if (!view) return;
      dirty = false;
      lastDraw = Date.now();
      const lines = view.frame(process.stdout.columns || 80, process.stdout.rows || 24);
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
      if (mode === 'dump' && !o.dump && !tty) process.stderr.write('sprig: stdout is not a terminal; printing events line by line (--dump; -i for the interactive view)\n');
      // Dump lines name the task of every event; a small state remembers the names.
      const names = mode === 'dump' || filter ? new ClusterState({ maxTasks: 10_000 }) : undefined;
      // A task event passes when its task, as the state knows it after this event, matches.
      const passes = (ev: SprigEvent): boolean => {
        if (!filter || !('uuid' in ev) || typeof ev.uuid !== 'string') return true;
        const t = names!.tasks.get(ev.uuid);
        return !!t && matchesQuery(t, filter);
      };
      if (mode === 'live') {
        const v = (view = new LiveView(broker.displayUrl));
        process.stdout.write(ANSI.altOn + ANSI.hideCursor);
        process.on('exit', restoreTty);
        if (process.stdin.isTTY) process.stdin.setRawMode(true);
        process.stdin.setEncoding('utf8');
        process.stdin.resume();
        process.stdin.on('data', (d: string) => {
          for (const k of splitKeys(d)) {
            const action = v.key(k);
            if (action?.type === 'quit') return finish();
            if (action?.type === 'revoke') {
              v.note = `${action.terminate ? 'terminating' : 'revoking'} ${action.name ?? '?'}[${action.taskId.slice(0, 8)}]...`;
              void revoke(app, v, action.taskId, action.name, action.terminate).then(draw);
            }
          }
          draw();
        });
        // stdin closed (a pipe at its end): keep watching until a signal.
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
          if (mode === 'json') {
            names?.apply(ev);
            if (passes(ev)) process.stdout.write(`${JSON.stringify(ev)}\n`);
          } else if (names) {
            names.apply(ev);
            if (passes(ev)) process.stdout.write(`${dumpLine(ev, (id) => names.tasks.get(id)?.name)}\n`);
          } else {
            view!.add(ev);
            dirty = true;
          }
        },
        reconnected: (gap: EventGap) => {
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
      if (mode === 'live') process.stdin.pause();
      await receiver?.close().catch(() => undefined);
      await app.close();
    }
  });
}

import { ConfigError } from '../errors.js';

/**
 * A worker component (Celery's bootstep). Steps start in dependency order and stop in reverse;
 * user components are just more steps (from the tasks file: `export const steps = [...]`).
 */
export interface Step<W = unknown> {
  name: string;
  requires?: readonly string[];
  start?(worker: W): void | Promise<void>;
  stop?(worker: W): void | Promise<void>;
}

/** Order steps so each comes after what it requires; a cycle or unknown requirement is an error. */
export function orderSteps<W>(steps: readonly Step<W>[]): Step<W>[] {
  const byName = new Map<string, Step<W>>();
  for (const s of steps) {
    if (byName.has(s.name)) throw new ConfigError(`bootstep "${s.name}" is defined twice`);
    byName.set(s.name, s);
  }
  for (const s of steps) {
    for (const r of s.requires ?? []) {
      if (!byName.has(r)) {
        throw new ConfigError(`bootstep "${s.name}" requires "${r}", which is not a step (steps: ${[...byName.keys()].join(', ')})`);
      }
    }
  }
  const out: Step<W>[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: Step<W>, path: string[]) => {
    const st = state.get(s.name);
    if (st === 'done') return;
    if (st === 'visiting') throw new ConfigError(`bootstep cycle: ${[...path, s.name].join(' -> ')}`);
    state.set(s.name, 'visiting');
    for (const r of s.requires ?? []) visit(byName.get(r)!, [...path, s.name]);
    state.set(s.name, 'done');
    out.push(s);
  };
  for (const s of steps) visit(s, []);
  return out;
}

export class Blueprint<W> {
  private started: Step<W>[] = [];
  readonly order: Step<W>[];

  constructor(
    steps: readonly Step<W>[],
    private readonly log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string) => void,
  ) {
    this.order = orderSteps(steps);
  }

  async start(worker: W): Promise<void> {
    for (const s of this.order) {
      this.log('debug', `starting bootstep ${s.name}`);
      await s.start?.(worker);
      this.started.push(s);
    }
  }

  /** Stop in reverse; a step that fails to stop is logged and the rest go on. */
  async stop(worker: W): Promise<void> {
    for (const s of this.started.reverse()) {
      try {
        this.log('debug', `stopping bootstep ${s.name}`);
        await s.stop?.(worker);
      } catch (err) {
        this.log('error', `bootstep ${s.name} failed to stop: ${(err as Error).message}`);
      }
    }
    this.started = [];
  }
}

/**
 * The periodic task scheduler (`sprig beat`, docs/beat.md). Every scheduler on a broker competes
 * for one lease (lease.ts); the one that holds it sends the due runs, the others wait to take over.
 *
 * A due run is recorded (the entry's last due time, beside the lease) and its task message published
 * in one broker-side compare-and-set commit: a run is never sent twice (a second scheduler, a resent
 * commit, or a scheduler that lost its lease all find the state moved and change nothing), and never
 * skipped (a failed commit changes nothing either, so the run is still due on the next tick).
 *
 * Takeover: the active scheduler renews its lease every ttl/3; a standby tries to take it every
 * ttl/5. After `kill -9` of the active one, the lease expires within ttl of its last renewal and a
 * standby takes it within ttl/5 after that: runs are late by at most ttl + ttl/5 (12 s with the
 * default 10 s), then the missed ones are sent per the catch-up policy.
 */
import { EventEmitter } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FSWatcher } from 'chokidar';
import { App, type ApplyOptions } from '../app/app.js';
import { createBroker } from '../brokers/registry.js';
import type { Broker } from '../brokers/types.js';
import type { LeaseStore } from '../brokers/lease.js';
import type { CatchUpPolicy } from '../app/schedule.js';
import type { TransportMessage } from '../protocol/message.js';
import { ConfigError } from '../errors.js';
import { createLogger, type Logger, type LogLevel } from '../util/log.js';
import { loadSchedule, type ScheduleSourceOptions } from './source.js';
import { checkPolicy, type BeatEntry } from './schedules.js';
import { nextRun, planRuns } from './plan.js';

export interface BeatOptions extends ScheduleSourceOptions {
  /** Use this connected broker (not closed by stop()): `sprig worker --beat` shares the worker's. */
  broker?: Broker;
  /** Watch the tasks and config files and pick up schedule changes (default true). */
  watch?: boolean;
  logLevel?: LogLevel;
  logWrite?: (line: string) => void;
}

export type { BeatListEntry } from './list-entry.js';
import type { BeatListEntry } from './list-entry.js';

/** What beat keeps per entry beside the lease. */
interface EntryState {
  /** The latest due time dealt with (sent, skipped or the anchor of a new entry). */
  lastDue: number;
  /** The due time of the last run sent, and when it was sent. */
  lastSent?: number;
  sentAt?: number;
}

export const DEFAULT_LEASE_TTL_S = 10;
/** Longest sleep between ticks (a clock jump or an edit is noticed this fast). */
const MAX_SLEEP_MS = 1000;

/** Headers every beat message carries: which entry, which due time, which scheduler. */
export const BEAT_HEADERS = { entry: 'beat_entry', dueAt: 'beat_due_at', scheduler: 'beat_scheduler' } as const;

/** The same (scheduler name, entry, due time) always gets the same task id: a run's identity. */
export function beatTaskId(name: string, entry: string, due: number): string {
  const h = createHash('sha1').update(`sprig-beat\0${name}\0${entry}\0${due}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

function parseState(raw: string | undefined): EntryState | undefined {
  if (raw === undefined) return undefined;
  try {
    const v = JSON.parse(raw) as EntryState;
    return Number.isFinite(v?.lastDue) ? v : undefined;
  } catch {
    return undefined;
  }
}

export class Beat extends EventEmitter {
  readonly log: Logger;
  /** This scheduler's identity in the lease. */
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  entries = new Map<string, BeatEntry>();
  name = 'default';
  leaseTtlMs = DEFAULT_LEASE_TTL_S * 1000;
  catchUp: CatchUpPolicy = 'latest';
  maxCatchUp = 100;
  active = false;
  broker!: Broker;
  private store!: LeaseStore;
  private app!: App;
  private state: Record<string, string> = {};
  private leaseUntil = 0;
  private renewAt = 0;
  private files: string[] = [];
  private watcher?: FSWatcher;
  private reloadTimer?: NodeJS.Timeout;
  private reloading?: Promise<boolean>;
  private lastReloadError?: string;
  private readonly buildErrors = new Map<string, string>();
  private running?: Promise<void>;
  private stopped = false;
  private wake?: () => void;
  private ownBroker = false;
  private toldStandby = false;

  constructor(private readonly opts: BeatOptions = {}) {
    super();
    this.log = createLogger('beat', opts.logLevel, opts.logWrite);
  }

  /** Load the schedule and settings (throws ConfigError / TaskFileError with the file and line). */
  async load(): Promise<void> {
    const s = await loadSchedule(this.opts, true);
    const b = s.config.beat ?? {};
    this.name = b.name ?? 'default';
    if (!/^[A-Za-z0-9_.:-]{1,200}$/.test(this.name)) throw new ConfigError(`beat.name (--name) must be 1-200 characters of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(this.name)}`);
    const ttl = b.leaseTtl ?? DEFAULT_LEASE_TTL_S;
    if (!Number.isFinite(ttl) || ttl < 0.5) throw new ConfigError(`beat.leaseTtl must be a number of seconds >= 0.5, got ${JSON.stringify(b.leaseTtl)}`);
    this.leaseTtlMs = Math.round(ttl * 1000);
    this.catchUp = checkPolicy(b.catchUp ?? 'latest', 'beat.catchUp');
    this.maxCatchUp = b.maxCatchUp ?? 100;
    if (!Number.isInteger(this.maxCatchUp) || this.maxCatchUp < 1) throw new ConfigError(`beat.maxCatchUp must be a positive integer, got ${JSON.stringify(b.maxCatchUp)}`);
    this.entries = s.entries;
    this.files = s.files;
    this.app = new App({ ...s.config });
  }

  /** Connect to the broker (after load()). */
  async connect(): Promise<void> {
    if (this.opts.broker) this.broker = this.opts.broker;
    else {
      const c = await this.app.config();
      this.broker = await createBroker(c.brokerUrl!, { projectDir: c.projectDir, visibilityTimeout: c.visibilityTimeout });
      this.ownBroker = true;
      await this.broker.connect();
    }
    if (!this.broker.leases) {
      throw new ConfigError(`sprig beat needs a lease on the broker: supported on redis://, sprig://, memory://, postgres:// and amqp://, not on ${this.broker.kind} (${this.broker.displayUrl})`);
    }
    if (this.broker.kind === 'amqp' && this.leaseTtlMs < 2000) {
      // The lease lives as long as the connection: RabbitMQ's heartbeat (whole seconds, two missed) must fit in it.
      throw new ConfigError(`beat.leaseTtl on RabbitMQ must be at least 2 seconds (its heartbeat is ttl / 2 in whole seconds), got ${this.leaseTtlMs / 1000}`);
    }
    this.store = this.broker.leases();
    this.app.useBroker(this.broker);
  }

  /** How late a run can be after the active scheduler dies (ms): ttl + the standby's poll interval. */
  get takeoverBoundMs(): number {
    return this.leaseTtlMs + this.pollMs;
  }

  private get pollMs(): number {
    return Math.max(100, Math.round(this.leaseTtlMs / 5));
  }

  async start(): Promise<void> {
    await this.load();
    await this.connect();
    if (this.opts.watch !== false) this.watch();
    this.log.notice(
      `beat ${this.holder} starting: broker ${this.broker.displayUrl}, name ${this.name}, lease ${this.leaseTtlMs / 1000}s ` +
        `(takeover within ${this.takeoverBoundMs / 1000}s), catch-up ${this.catchUp}, entries [${[...this.entries.keys()].join(', ')}]`,
    );
    if (this.entries.size === 0) this.log.warn(`beat: no schedule entries: export \`schedule\` (defineSchedule) from the tasks file or set beat.schedule in sprig.config`);
    this.running = this.loop();
  }

  /** Stop sending; give the lease up so a standby takes over at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake?.();
    await this.running?.catch(() => undefined);
    clearTimeout(this.reloadTimer);
    await this.watcher?.close();
    if (this.active) await this.store.release(this.name, this.holder).catch(() => undefined);
    this.active = false;
    if (this.ownBroker) {
      await this.broker.flush().catch(() => undefined);
      await this.broker.close().catch(() => undefined);
    }
    this.emit('stopped');
  }

  /** The entries with their next and last run (what `sprig beat --list` prints). */
  async list(now = Date.now()): Promise<BeatListEntry[]> {
    const { state } = await this.store.read(this.name);
    return [...this.entries.values()].map((e) => {
      const st = parseState(state[e.name]);
      const next = e.enabled ? nextRun(e.schedule, st?.lastDue, now) : undefined;
      return {
        name: e.name,
        task: e.task,
        schedule: e.schedule.text,
        nextRunAt: next === undefined ? null : new Date(next).toISOString(),
        lastRunAt: st?.lastSent !== undefined ? new Date(st.lastSent).toISOString() : null,
        args: e.args,
        kwargs: e.kwargs,
        options: { ...e.options },
      };
    });
  }

  // ---- the loop ----------------------------------------------------------------------------

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let wait: number;
      try {
        wait = await this.step();
      } catch (err) {
        this.log.warn(`beat: ${(err as Error).message} (trying again)`);
        wait = this.pollMs;
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, wait));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Hold (or try to take) the lease, send what is due; returns how long to sleep (ms). */
  private async step(): Promise<number> {
    let now = Date.now();
    if (this.active && now >= this.leaseUntil) this.standDown('its lease ran out before it could renew it');
    if (!this.active || now >= this.renewAt) {
      const asked = now;
      const got = await this.store.acquire(this.name, this.holder, this.leaseTtlMs);
      if (got) {
        this.leaseUntil = asked + this.leaseTtlMs;
        this.renewAt = asked + Math.round(this.leaseTtlMs / 3);
        if (!this.active) {
          this.state = (await this.store.read(this.name)).state;
          this.active = true;
          this.log.notice(`beat ${this.holder}: active (holds the lease ${this.name})`);
          this.emit('active');
        }
      } else {
        if (this.active) this.standDown('another scheduler holds the lease');
        else if (!this.toldStandby) this.log.info(`beat ${this.holder}: standing by (another scheduler holds the lease ${this.name})`);
        this.toldStandby = true;
        return this.pollMs;
      }
    }
    await this.tick();
    now = Date.now();
    let wake = Math.min(this.renewAt, now + MAX_SLEEP_MS);
    for (const e of this.entries.values()) {
      if (!e.enabled) continue;
      const n = nextRun(e.schedule, parseState(this.state[e.name])?.lastDue, now);
      if (n !== undefined) wake = Math.min(wake, n);
    }
    return wake - now;
  }

  private standDown(why: string): void {
    this.active = false;
    this.log.warn(`beat ${this.holder}: standing by (${why})`);
    this.emit('standby');
  }

  /** Send every entry's due runs (one compare-and-set commit per entry). */
  private async tick(): Promise<void> {
    for (const e of [...this.entries.values()]) {
      if (!this.active || this.stopped) return;
      if (!e.enabled) continue;
      const now = Date.now();
      const prevRaw = this.state[e.name];
      const prev = parseState(prevRaw);
      const policy = e.catchUp ?? this.catchUp;
      const plan = planRuns(e.schedule, prev?.lastDue, now, policy, this.maxCatchUp);
      if (plan.lastDue === undefined) continue;
      let messages: Array<{ queue: string; message: TransportMessage }>;
      try {
        messages = await Promise.all(plan.runs.map((due) => this.message(e, due)));
        this.buildErrors.delete(e.name);
      } catch (err) {
        const msg = `beat: entry ${JSON.stringify(e.name)} (${e.source}): cannot build its message: ${(err as Error).message}`;
        if (this.buildErrors.get(e.name) !== msg) this.log.error(msg);
        this.buildErrors.set(e.name, msg);
        continue;
      }
      const sent = plan.runs.length ? { lastSent: plan.runs[plan.runs.length - 1], sentAt: now } : {};
      const value = JSON.stringify({ ...prev, lastDue: plan.lastDue, ...sent } satisfies EntryState);
      const r = await this.store.commit(this.name, this.holder, [{ field: e.name, expect: prevRaw ?? null, value }], messages);
      if (r === 'ok') {
        this.state[e.name] = value;
        if (plan.dropped && policy !== 'all') this.log.info(`beat: ${e.name}: missed runs collapsed (catch-up ${policy})`);
        if (plan.dropped && policy === 'all') this.log.warn(`beat: ${e.name}: more than ${this.maxCatchUp} missed runs; sent the latest ${this.maxCatchUp} (beat.maxCatchUp)`);
        for (const due of plan.runs) {
          this.log.info(`beat: sent ${e.task} (${e.name}) due ${new Date(due).toISOString()}`);
          this.emit('sent', { entry: e.name, task: e.task, due });
        }
      } else if (r === 'conflict') {
        // Another scheduler moved the state (a takeover that crossed ours): read it, decide again.
        this.state = (await this.store.read(this.name)).state;
      } else {
        this.standDown('the lease was taken over');
        return;
      }
    }
  }

  private message(e: BeatEntry, due: number): Promise<{ queue: string; message: TransportMessage }> {
    const o = e.options;
    const opts: ApplyOptions = {
      ...o,
      taskId: beatTaskId(this.name, e.name, due),
      headers: { ...o.headers, [BEAT_HEADERS.entry]: e.name, [BEAT_HEADERS.dueAt]: new Date(due).toISOString(), [BEAT_HEADERS.scheduler]: this.holder },
    };
    return this.app.buildMessage(e.task, e.args, e.kwargs, opts);
  }

  // ---- schedule changes --------------------------------------------------------------------

  private watch(): void {
    if (this.files.length === 0) return;
    const { watch } = require('chokidar') as typeof import('chokidar');
    this.watcher = watch(this.files, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 } });
    this.watcher.on('all', () => {
      clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => void this.reload(), 150);
    });
  }

  /** Load the schedule again; a bad edit keeps the old one (logged once, with file and line). */
  async reload(): Promise<boolean> {
    while (this.reloading) await this.reloading;
    this.reloading = (async () => {
      try {
        const s = await loadSchedule({ ...this.opts, exports: undefined }, false);
        const before = [...this.entries.keys()].join(', ');
        this.entries = s.entries;
        this.watcher?.add(s.files.filter((f) => !this.files.includes(f)));
        this.files = [...new Set([...this.files, ...s.files])];
        this.lastReloadError = undefined;
        this.log.info(`beat: schedule reloaded: [${[...this.entries.keys()].join(', ')}] (was [${before}])`);
        this.emit('reload', { ok: true });
        this.wake?.();
        return true;
      } catch (err) {
        const msg = (err as Error).message;
        if (msg !== this.lastReloadError) this.log.error(`beat: schedule not reloaded: ${msg} — still running the previous schedule`);
        this.lastReloadError = msg;
        this.emit('reload', { ok: false, error: msg });
        return false;
      }
    })();
    try {
      return await this.reloading;
    } finally {
      this.reloading = undefined;
    }
  }
}

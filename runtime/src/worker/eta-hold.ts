/**
 * ETA / countdown tasks a worker holds until their time, and the bound on them (`worker.etaTaskLimit`,
 * Celery 5.6's `worker_eta_task_limit`): past it, a broker that can (`defer`: Redis) keeps the later
 * ones until they are due; on one that cannot, the prefetch window stops growing for them, so the
 * worker takes no more messages meanwhile (docs/eta.md).
 */
import type { Broker } from '../brokers/types.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { setLongTimeout } from '../util/timers.js';
import type { Request } from './consumer.js';

/** An ETA task due sooner than this is held even past `etaTaskLimit` (it would be back at once). */
export const PARK_MIN_DELAY_MS = 5000;
/** The bound on held ETA tasks where the broker can park them (`defer`); elsewhere unbounded, as Celery. */
export const DEFAULT_ETA_TASK_LIMIT = 5000;

/** What the hold needs from the consumer. */
export interface EtaHost {
  readonly broker: Broker;
  readonly log: Logger;
  /** The number of held tasks changed: the prefetch window follows. */
  heldChanged(): void;
  /** Its time came: it is reserved like any task received now. */
  due(r: Request): void;
}

export class EtaHold {
  /** Held here until their ETA, by task id. */
  readonly scheduled = new Map<string, Request>();
  /** At most this many held here (past it the broker keeps them, where it can). */
  readonly limit: number;
  /** ETA tasks handed to the broker to keep (`defer`) since start. */
  deferred = 0;

  constructor(
    private readonly host: EtaHost,
    configured: number | undefined,
  ) {
    if (configured !== undefined && !(Number.isInteger(configured) && configured >= 0)) throw new ConfigError(`worker.etaTaskLimit must be an integer >= 0 (ETA tasks held in memory), got ${JSON.stringify(configured)}`);
    this.limit = configured ?? (host.broker.defer ? DEFAULT_ETA_TASK_LIMIT : Infinity);
  }

  /** The held ETA tasks the prefetch window grows by: the bound stops it growing past the limit. */
  windowGrowth(): number {
    return Math.min(this.scheduled.size, this.limit);
  }

  /** Past the bound and far enough away, on a broker that can keep it: it is parked there, not held. */
  shouldPark(delayMs: number): boolean {
    return delayMs > PARK_MIN_DELAY_MS && this.scheduled.size >= this.limit && !!this.host.broker.defer;
  }

  /** Past the ETA bound: the broker keeps it until it is due; if it cannot now, it is held here after all. */
  park(r: Request, etaMs: number): void {
    r.acked = true; // settled by the broker's move, not by an ack
    this.deferred++;
    this.host.broker.defer!(r.delivery, etaMs).catch((err: unknown) => {
      this.host.log.warn(`cannot park ETA task ${r.req.name}[${r.req.id}] on the broker, holding it: ${(err as Error).message}`);
      this.deferred--;
      r.acked = false;
      this.hold(r, etaMs - Date.now());
    });
  }

  /** Held here until its ETA (the prefetch window grows by it, up to the bound). */
  hold(r: Request, delayMs: number): void {
    const { req } = r;
    this.scheduled.set(req.id, r);
    this.host.heldChanged();
    r.timer = setLongTimeout(() => {
      this.scheduled.delete(req.id);
      this.host.heldChanged();
      this.host.due(r);
    }, Math.max(0, delayMs));
  }

  /** Revoked while held: taken out (its timer cleared), or undefined when it is not held here. */
  take(id: string): Request | undefined {
    const r = this.scheduled.get(id);
    if (!r) return undefined;
    clearTimeout(r.timer);
    this.scheduled.delete(id);
    this.host.heldChanged();
    return r;
  }

  /** Shutdown: everything held, timers cleared, to be given back to the broker. */
  drain(): Request[] {
    const out = [...this.scheduled.values()];
    for (const r of out) clearTimeout(r.timer);
    this.scheduled.clear();
    return out;
  }
}

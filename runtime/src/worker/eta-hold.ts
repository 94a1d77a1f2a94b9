/**
 * ETA / countdown tasks a worker holds until their time, and the bound on them (`worker.etaTaskLimit`,
 * Celery 5.6's `worker_eta_task_limit`): past it, a broker that can (`defer`: Redis) keeps the later
 * ones until they are due; on one that cannot, the prefetch window stops growing for them, so the
 * worker takes no more messages meanwhile (docs/eta.md).
 */
import type { Broker, Delivery } from '../brokers/types.js';
import { decodeEnvelope } from '../protocol/message.js';
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
  /** Its time came: it is received again, decoded from its bytes (it was announced when first received). */
  due(d: Delivery): void;
  /** The request of a held delivery, decoded again from its bytes (inspect, revoke). */
  decode(d: Delivery): Request | undefined;
}

/**
 * A task held until its ETA. Only its id, ETA and bytes stay in memory (a few hundred bytes, not the
 * decoded message and request, which are several times that): a million scheduled tasks read past
 * the bound keep at most `limit` of these. A delivery whose raw bytes are not its whole envelope (RabbitMQ) keeps its request.
 */
export interface HeldEta {
  readonly id: string;
  readonly etaMs: number;
  readonly delivery: Delivery;
  readonly request?: Request;
  timer?: NodeJS.Timeout;
}

/**
 * True when `d`'s raw bytes are its whole kombu envelope (Redis, embedded, PostgreSQL: a string), so
 * it can be decoded again from them. RabbitMQ's raw is only the body (a Buffer; headers and
 * properties are AMQP's own): such a delivery keeps its decoded message and request.
 */
function decodesFromRaw(d: Delivery): boolean {
  return typeof d.raw === 'string';
}

/** A delivery reduced to what settling it and decoding it again need: its decoded message is dropped. */
function slimmed(d: Delivery): Delivery {
  return { tag: d.tag, queue: d.queue, raw: d.raw, redelivered: d.redelivered };
}

export class EtaHold {
  /** Held here until their ETA, by task id. */
  readonly scheduled = new Map<string, HeldEta>();
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
    return delayMs > PARK_MIN_DELAY_MS && this.parkBeyond() !== undefined;
  }

  /**
   * Past the bound, on a broker that can keep them: how far away an ETA must be for it to be parked
   * (undefined below the bound). Given to the broker's consumer (Consumer.setParkBeyond), which then
   * parks such messages as it fetches them, their bytes never read here (a million scheduled tasks
   * would otherwise cross into this process only to go back, and their garbage is its peak RSS).
   */
  parkBeyond(): number | undefined {
    return this.scheduled.size >= this.limit && this.host.broker.defer ? PARK_MIN_DELAY_MS : undefined;
  }

  /** The broker's consumer parked `n` as it fetched them (parkBeyond). */
  readonly parkedByBroker = (n: number): void => {
    this.deferred += n;
  };

  /**
   * Past the ETA bound: the broker keeps it until it is due. Only its tag, queue and raw bytes wait
   * for the broker's answer (a fetch batch parks in one call while the next batch is read): the
   * decoded message and request are garbage at once, not carried across the round trip. If the
   * broker cannot keep it now, `fallback` gets it back, decoded again, to hold it here after all.
   */
  park(r: Request, etaMs: number, fallback: (d: Delivery) => void): void {
    const d = r.delivery;
    const slim = slimmed(d);
    // Only a delivery that cannot be decoded again from its raw bytes keeps its decoded message across the round trip.
    const keep = decodesFromRaw(d) ? undefined : d;
    const { id, name } = r.req;
    r.acked = true; // settled by the broker's move, not by an ack
    this.deferred++;
    this.host.broker.defer!(slim, etaMs).catch((err: unknown) => {
      this.host.log.warn(`cannot park ETA task ${name}[${id}] on the broker, holding it: ${(err as Error).message}`);
      this.deferred--;
      fallback(keep ?? withMessage(slim));
    });
  }

  /** Held here until its ETA (the prefetch window grows by it, up to the bound); then received again. */
  hold(r: Request, delayMs: number): void {
    const d = r.delivery;
    const id = r.req.id;
    const h: HeldEta = decodesFromRaw(d) ? { id, etaMs: Date.now() + delayMs, delivery: slimmed(d) } : { id, etaMs: Date.now() + delayMs, delivery: d, request: r };
    this.scheduled.set(id, h);
    this.host.heldChanged();
    h.timer = setLongTimeout(() => {
      this.scheduled.delete(id);
      this.host.heldChanged();
      this.host.due(h.request ? h.request.delivery : withMessage(h.delivery));
    }, Math.max(0, delayMs));
  }

  /** The request of a held task, decoded again when only its bytes are kept. */
  request(h: HeldEta): Request | undefined {
    return h.request ?? this.host.decode(withMessage(h.delivery));
  }

  /** Every held task's request, decoded again from its bytes where only they are kept (inspect scheduled). */
  requests(): Request[] {
    const out: Request[] = [];
    for (const h of this.scheduled.values()) {
      const r = this.request(h);
      if (r) out.push(r);
    }
    return out;
  }

  /** Revoked while held: taken out (its timer cleared), or undefined when it is not held here. */
  take(id: string): HeldEta | undefined {
    const h = this.scheduled.get(id);
    if (!h) return undefined;
    clearTimeout(h.timer);
    this.scheduled.delete(id);
    this.host.heldChanged();
    return h;
  }

  /** Shutdown: everything held, timers cleared, to be given back to the broker. */
  drain(): HeldEta[] {
    const out = [...this.scheduled.values()];
    for (const h of out) clearTimeout(h.timer);
    this.scheduled.clear();
    return out;
  }
}

/** A slimmed delivery with its message decoded again from its bytes. */
function withMessage(d: Delivery): Delivery {
  try {
    return { ...d, message: decodeEnvelope(d.raw as string) };
  } catch (err) {
    return { ...d, error: err as Error };
  }
}

/**
 * The adaptive prefetch window (used unless the multiplier is set explicitly).
 *
 * Celery's window is fixed: concurrency × 4 unacknowledged messages. For tasks that take well under
 * a millisecond that window, not the pool, sets the pace: each round trip to the broker and to the
 * pool children carries at most a few messages, and every round trip costs the same whatever it
 * carries. So the window starts at the base multiplier (4, Celery's default) and doubles, up to
 * MAX_MULTIPLIER, while the recent average task runtime says that one slot's share of the window is
 * still under BUDGET_MS of work. As soon as tasks get slower it shrinks back, never below the base,
 * so long tasks are never hoarded by one worker beyond what Celery would hold. (At the moment tasks
 * turn slow, what was already prefetched under the bigger window stays held: at most one window.)
 *
 * Delivery guarantees are the same at any window: acks-late messages stay unacknowledged until their
 * task ran; a bigger window only means more of them are held (and redelivered if the worker dies).
 */
export const BASE_MULTIPLIER = 4;
export const MAX_MULTIPLIER = 16;
/** Expected work (ms) one pool slot may have queued behind it before the window stops growing. */
export const BUDGET_MS = 4;
/** Consider growing after this many finished tasks (no timer: an idle worker keeps its window). */
const EVERY = 32;
/** Weight of the newest runtime in the moving average. */
const ALPHA = 0.05;

export class PrefetchTuner {
  private avgMs = Number.NaN;
  private seen = 0;
  private slowInARow = 0;
  current: number;

  constructor(
    private readonly apply: (multiplier: number) => void,
    readonly base = BASE_MULTIPLIER,
    readonly max = MAX_MULTIPLIER,
  ) {
    this.current = base;
  }

  /** A task finished after `runtimeSeconds`. */
  observe(runtimeSeconds: number): void {
    const ms = runtimeSeconds * 1000;
    if (!(ms >= 0)) return;
    this.avgMs = Number.isNaN(this.avgMs) ? ms : this.avgMs + (ms - this.avgMs) * ALPHA;
    this.slowInARow = this.current * ms > 2 * BUDGET_MS ? this.slowInARow + 1 : 0;
    // Above MAX_MULTIPLIER (pools fed in batches may go there), one slow task alone changes nothing:
    // on a loaded machine a pool child is often descheduled for a few ms in the middle of a no-op,
    // and shrinking a 256 window for that made it flap. A second slow task in a row shrinks it.
    const sure = this.current <= MAX_MULTIPLIER || this.slowInARow >= 2;
    // Shrinking is checked at every task (slow tasks must not wait 32 runs to be noticed); growing
    // every EVERY tasks.
    const tooBig = sure && this.current > this.base && this.current * this.avgMs > 2 * BUDGET_MS;
    if (++this.seen % EVERY !== 0 && !tooBig) return;
    const m = sure ? this.target() : Math.max(this.current, this.target());
    if (m === this.current) return;
    this.current = m;
    this.apply(m);
  }

  /**
   * Doubles while twice the window still fits the budget; halves only once the window holds more
   * than twice the budget (the gap keeps it from flapping when tasks sit near a boundary).
   */
  target(): number {
    let m = this.current;
    if (Number.isNaN(this.avgMs)) return m;
    while (m * 2 <= this.max && m * 2 * this.avgMs <= BUDGET_MS) m *= 2;
    while (m > this.base && m * this.avgMs > 2 * BUDGET_MS) m = Math.max(this.base, m / 2);
    return m;
  }

  /** Moving average of task runtime (ms), NaN before the first task. */
  get averageMs(): number {
    return this.avgMs;
  }
}

import type { Worker } from './worker.js';

/**
 * Grows the pool while tasks wait for a slot and shrinks it after a cool-down with idle slots
 * (Celery's Autoscaler). Decisions are logged.
 */
export class Autoscaler {
  max = 1;
  min = 0;
  private timer?: NodeJS.Timeout;
  private lastChange = 0;
  private idleSince = 0;

  constructor(
    private readonly w: Worker,
    private readonly intervalMs = Number(process.env.SPRIG_AUTOSCALE_INTERVAL_MS ?? 1000),
    private readonly cooldownMs = Number(process.env.SPRIG_AUTOSCALE_COOLDOWN_MS ?? 5000),
  ) {}

  set(max: number, min: number): void {
    this.max = max;
    this.min = Math.max(1, min);
    this.w.log.info(`autoscale: max=${max} min=${this.min}`);
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      this.timer.unref();
    }
    void this.tick();
  }

  async tick(): Promise<void> {
    const pool = this.w.pool;
    const c = this.w.consumer;
    if (!pool || !c) return;
    const now = Date.now();
    const busy = pool.busy;
    const waiting = c.waiting + pool.backlog;
    if (pool.size < this.min) return this.resize(this.min - pool.size, 'below the minimum');
    if (pool.size > this.max) return this.resize(this.max - pool.size, 'above the maximum');
    if (waiting > 0 && pool.size < this.max) {
      this.idleSince = 0;
      return this.resize(Math.min(waiting, this.max - pool.size), `${waiting} task(s) waiting`);
    }
    if (busy < pool.size && waiting === 0) {
      if (!this.idleSince) this.idleSince = now;
      if (pool.size > this.min && now - this.idleSince >= this.cooldownMs && now - this.lastChange >= this.cooldownMs) {
        return this.resize(-Math.min(pool.size - Math.max(busy, this.min), pool.size - this.min), `idle for ${Math.round((now - this.idleSince) / 1000)}s`);
      }
    } else this.idleSince = 0;
  }

  private async resize(delta: number, why: string): Promise<void> {
    if (!delta) return;
    const pool = this.w.pool;
    this.lastChange = Date.now();
    this.w.log.info(`autoscale: ${delta > 0 ? 'growing' : 'shrinking'} pool ${pool.size} -> ${pool.size + delta} (${why})`);
    if (delta > 0) await pool.grow(delta);
    else await pool.shrink(-delta);
    this.w.consumer.onPoolResized();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

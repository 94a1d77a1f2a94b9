/**
 * A FIFO per priority level, lowest level first (kombu's Redis order: 0 is the highest priority).
 * Used by the memory broker and the embedded broker server.
 */
export class PriorityFifo<T> {
  private readonly levels: T[][] = [];
  private readonly heads: number[] = [];
  private count = 0;

  get length(): number {
    return this.count;
  }

  static level(priority: number | undefined): number {
    const p = typeof priority === 'number' && Number.isFinite(priority) ? Math.trunc(priority) : 0;
    return Math.min(9, Math.max(0, p));
  }

  push(item: T, priority?: number): void {
    const l = PriorityFifo.level(priority);
    (this.levels[l] ??= []).push(item);
    this.heads[l] ??= 0;
    this.count++;
  }

  /** Put back at the front of its level (a requeued message keeps its place). */
  unshift(item: T, priority?: number): void {
    const l = PriorityFifo.level(priority);
    const arr = (this.levels[l] ??= []);
    const head = (this.heads[l] ??= 0);
    if (head > 0) {
      arr[head - 1] = item;
      this.heads[l] = head - 1;
    } else arr.unshift(item);
    this.count++;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    for (let l = 0; l < this.levels.length; l++) {
      const arr = this.levels[l];
      if (!arr) continue;
      const head = this.heads[l] ?? 0;
      if (head < arr.length) {
        const item = arr[head] as T;
        (arr as unknown[])[head] = undefined;
        const next = head + 1;
        if (next > 1024 && next * 2 > arr.length) {
          arr.splice(0, next);
          this.heads[l] = 0;
        } else this.heads[l] = next;
        this.count--;
        return item;
      }
    }
    return undefined;
  }

  clear(): number {
    const n = this.count;
    this.levels.length = 0;
    this.heads.length = 0;
    this.count = 0;
    return n;
  }

  *values(): IterableIterator<T> {
    for (let l = 0; l < this.levels.length; l++) {
      const arr = this.levels[l];
      if (!arr) continue;
      for (let i = this.heads[l] ?? 0; i < arr.length; i++) yield arr[i] as T;
    }
  }
}

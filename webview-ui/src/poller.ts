/** Calls `fn` at once and then every `ms` while started (the panels poll while they are open). */
export class Poller {
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly fn: () => Promise<void>,
    private readonly ms: number,
  ) {}

  start(): void {
    this.stop();
    void this.fn();
    this.timer = setInterval(() => void this.fn(), this.ms);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

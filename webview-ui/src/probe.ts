/** Timing hook for the UI performance test (test/extension/monitor-perf.mjs); unset otherwise. */
export type Probe = (kind: string, items: number, ms: number) => void;

export const probe = (): Probe | undefined => (globalThis as { sprigMonitorProbe?: Probe }).sprigMonitorProbe;

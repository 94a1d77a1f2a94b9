/**
 * Timers for any duration. Node fires a timer longer than 2**31-1 ms (24.8 days) after 1 ms, with
 * a TimeoutOverflowWarning; an ETA, a time limit or a wait of 30 days must wait 30 days.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * setTimeout for any `ms` (Infinity: never). A long one is split into equal pieces that each fit,
 * re-armed with refresh(), so the handle is one ordinary Timeout: clearTimeout() and unref() work
 * on it as on any other.
 */
export function setLongTimeout(fn: () => void, ms: number): NodeJS.Timeout {
  if (!(ms > MAX_TIMEOUT_MS)) return setTimeout(fn, ms);
  let left = Number.isFinite(ms) ? Math.ceil(ms / MAX_TIMEOUT_MS) : Infinity;
  const t: NodeJS.Timeout = setTimeout(
    () => {
      if (--left > 0) t.refresh();
      else fn();
    },
    Number.isFinite(ms) ? ms / left : MAX_TIMEOUT_MS,
  );
  return t;
}

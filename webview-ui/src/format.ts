/** Small formatting helpers (pure). */

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return '';
  if (seconds < 0.001) return `${Math.round(seconds * 1e6)} µs`;
  if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 0)} ms`;
  if (seconds < 60) return `${seconds.toFixed(2)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

export function formatAgo(seconds: number): string {
  if (seconds < 1) return 'now';
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

export function formatTime(ts: number | null | undefined): string {
  if (!ts) return '';
  const d = new Date(ts * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** `hh:mm:ss` local time of an ISO time or epoch seconds ('' when it is not a time). */
export function formatClock(t: string | number | null | undefined): string {
  const ms = typeof t === 'number' ? t * 1000 : t ? Date.parse(t) : NaN;
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Whole seconds a running task has run: `8 s`, `2 min 5 s`, `1 h 3 min`. */
export function formatElapsed(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** `12:00:05 (in 3 s)` / `11:59:58 (2 s ago)`; '–' for none. Pure. */
export function runText(iso: string | null, now = Date.now(), none = '–'): string {
  const at = iso ? Date.parse(iso) : NaN;
  if (!Number.isFinite(at)) return none;
  const s = (at - now) / 1000;
  return `${formatClock(iso)} (${s >= 1 ? `in ${formatAgo(s).replace(' ago', '')}` : s > -1 ? 'now' : formatAgo(-s)})`;
}

/**
 * A task's timeline, as detail rows under it: sent, then every attempt (its worker and pid, when it
 * was received and started, how long it waited and ran, why it was retried), the attempt that runs
 * now or ended, and the tasks it is linked to: the retry it was re-enqueued as (or of), its parent,
 * its root and its children. Pure (no DOM), from the TaskInfo the ClusterState keeps.
 */
import type { TaskAttempt, TaskInfo } from '../../runtime/src/events/state.js';
import { formatDuration, formatTime, shortId } from './format.js';

export interface TimelineRow {
  label: string;
  value: string;
  linkTask?: string;
}

/** Children listed at most (a fan-out of thousands stays one screen; the count is said). */
export const CHILDREN_SHOWN = 20;

function span(from: number | null, to: number | null): string {
  return from !== null && to !== null && to >= from ? formatDuration(to - from) : '';
}

function attemptText(a: Pick<TaskAttempt, 'worker' | 'pid' | 'received' | 'started'>, waitFrom: number | null, end: { at: number | null; what: string; why?: string | null }): string {
  const parts: string[] = [];
  const where = a.worker ? `${a.worker}${a.pid ? ` pid ${a.pid}` : ''}` : 'not received yet';
  parts.push(where);
  if (a.received) parts.push(`received ${formatTime(a.received)}`);
  if (a.started) parts.push(`started ${formatTime(a.started)}`);
  const wait = span(waitFrom ?? a.received, a.started);
  if (wait) parts.push(`waited ${wait}`);
  if (end.at) {
    const ran = span(a.started, end.at);
    parts.push(`${end.what} ${formatTime(end.at)}${ran ? ` after ${ran}` : ''}`);
  } else if (end.what) parts.push(end.what);
  if (end.why) parts.push(end.why);
  return parts.join(' · ');
}

/** How the current attempt ended (or that it has not). */
function currentEnd(t: TaskInfo): { at: number | null; what: string; why?: string | null } {
  switch (t.state) {
    case 'SUCCESS':
      return { at: t.succeeded, what: 'succeeded' };
    case 'FAILURE':
      return { at: t.failed, what: 'failed', why: t.exception };
    case 'RETRY':
      return { at: t.retried, what: 'retried', why: t.exception };
    case 'REVOKED':
      return { at: t.revoked, what: 'revoked' };
    case 'REJECTED':
      return { at: t.rejected, what: 'rejected', why: t.exception };
    case 'STARTED':
      return { at: null, what: 'running' };
    default:
      return { at: null, what: t.state === 'RECEIVED' ? 'waiting to start' : 'waiting for a worker' };
  }
}

export function timelineRows(t: TaskInfo, children: readonly string[] = []): TimelineRow[] {
  const rows: TimelineRow[] = [];
  if (t.sent) rows.push({ label: 'sent', value: `${formatTime(t.sent)}${t.routingKey ?? t.queue ? ` to ${t.routingKey ?? t.queue}` : ''}` });
  const attempts = t.attempts ?? [];
  let waitFrom: number | null = t.sent;
  for (const a of attempts) {
    rows.push({ label: `attempt ${a.retries + 1}`, value: attemptText(a, a.retries === 0 ? waitFrom : null, { at: a.retried, what: 'retried', why: a.reason }) });
    waitFrom = a.retried;
  }
  // The current attempt: shown as an attempt when there were others, else its own times (the 'times' row) say it.
  if (attempts.length || t.retries) {
    const cur = { worker: t.worker, pid: t.pid, received: t.received, started: t.started };
    rows.push({ label: `attempt ${t.retries + 1}`, value: attemptText(cur, null, currentEnd(t)) });
  } else if (t.worker && (t.started || t.received)) {
    rows.push({ label: 'attempt 1', value: attemptText({ worker: t.worker, pid: t.pid, received: t.received, started: t.started }, t.sent, currentEnd(t)) });
  }
  if (t.progress) {
    const p = t.progress;
    const frac = p.done !== null && p.total ? ` ${Math.floor((Math.min(p.done, p.total) / p.total) * 100)}% (${p.done}/${p.total})` : '';
    rows.push({ label: 'progress', value: `${p.state}${frac}${p.meta ? ` · ${p.meta}` : ''} · ${formatTime(p.timestamp)}` });
  }
  if (t.rootId && t.rootId !== t.uuid && t.rootId !== t.parentId) rows.push({ label: 'root', value: t.rootId, linkTask: t.rootId });
  children.slice(0, CHILDREN_SHOWN).forEach((c, i) => rows.push({ label: i === 0 ? `children (${children.length})` : '', value: c, linkTask: c }));
  if (children.length > CHILDREN_SHOWN) rows.push({ label: '', value: `… ${children.length - CHILDREN_SHOWN} more (search parent:${shortId(t.uuid)})` });
  return rows;
}

/** Queues a broker keeps for itself (pidbox, replies, events) and dead-letter queues are not task queues. */
export function isInternalQueue(q: string): boolean {
  return q === '' || q.endsWith('.dead-letter') || q.includes('pidbox') || q.startsWith('celeryev') || q.startsWith('amq.');
}

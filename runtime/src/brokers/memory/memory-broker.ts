import { HubBroker } from '../embedded/hub-broker.js';
import type { BrokerOptions } from '../registry.js';
import { Hub } from '../embedded/hub.js';
import { NULL_JOURNAL } from '../embedded/journal.js';
import { LocalLink } from '../embedded/local-link.js';

/** One Hub per name: every MemoryBroker of `memory://name` in this process shares it. */
const hubs = new Map<string, Hub>();

/**
 * `memory://[name]` — the embedded broker's Hub running in this process with no journal: for unit
 * tests and embedding. The same code as sprig:// (prefetch, acks, requeue, fair dispatch,
 * dead-letter lists, events, control, results), only nothing survives the process.
 */
export class MemoryBroker extends HubBroker {
  constructor(url = 'memory://', opts: BrokerOptions = {}) {
    const name = url.replace(/^memory:\/\//, '') || 'default';
    let hub = hubs.get(name);
    if (!hub) hubs.set(name, (hub = new Hub(NULL_JOURNAL)));
    super('memory', url, new LocalLink(hub), opts.deadLetter);
  }
}

/**
 * The beat lease on RabbitMQ (lease.ts; the reasons are in docs/beat.md, "RabbitMQ"):
 *
 * - The lease is an **exclusive queue** `sprig.beat.<name>.lease` declared on a connection of the
 *   scheduler's own. RabbitMQ lets one connection own it (another's declare fails with 405
 *   RESOURCE_LOCKED) and deletes it when that connection closes: at once when the process dies
 *   (`kill -9`: its kernel closes the socket), within two heartbeats when the host or the network
 *   is lost. The heartbeat is set from the lease's ttl (ttl / 2, whole seconds, at least 1).
 * - The last runs are one **token message** in the durable queue `sprig.beat.<name>.state`, held
 *   unacknowledged by the active scheduler on that same connection (RabbitMQ requeues it when the
 *   connection dies, for the next holder). A commit is one AMQP transaction on that channel:
 *   publish the task messages and the new token, ack the old token, `tx.commit`. A scheduler whose
 *   connection is gone cannot commit, and a commit the broker did not get changes nothing.
 * - A copy of the state goes (in the same transaction) to `sprig.beat.<name>.snapshot`
 *   (`x-max-length: 1`): what `sprig beat --list` reads without the lease.
 */
import * as amqp from 'amqplib';
import type { Channel, ChannelModel, GetMessage } from 'amqplib';
import { ConnectionError } from '../../errors.js';
import { createLogger } from '../../util/log.js';
import type { LeaseCommitResult, LeaseSnapshot, LeaseStateChange, LeaseStore } from '../lease.js';
import { checkLeaseName } from '../lease.js';
import type { TransportMessage } from '../../protocol/message.js';
import { parseJson } from '../../serialization/json.js';
import { CONNECT_TIMEOUT_MS, noop, replyCode } from './connection.js';
import { describeConnectError, type AmqpUrlInfo } from './url.js';
import { toPublishOptions } from './mapping.js';

const log = createLogger('sprig.amqp-leases');

// AMQP 0-9-1 tx class methods (amqplib speaks them but has no API for them).
const TX_SELECT = 5898250;
const TX_SELECT_OK = 5898251;
const TX_COMMIT = 5898260;
const TX_COMMIT_OK = 5898261;
const RESOURCE_LOCKED = 405;

interface Token {
  holder: string;
  state: Record<string, string>;
}

interface Held {
  holder: string;
  model: ChannelModel;
  /** The transactional channel that holds the token. */
  tx: Channel;
  token?: GetMessage;
  state: Record<string, string>;
  dead: boolean;
}

/** What the store needs of the broker: task queues declared as the broker declares them. */
export interface AmqpLeaseHost {
  declareQueue(queue: string): Promise<void>;
}

export function beatQueues(name: string): { lease: string; state: string; snapshot: string } {
  const base = `sprig.beat.${checkLeaseName(name)}`;
  return { lease: `${base}.lease`, state: `${base}.state`, snapshot: `${base}.snapshot` };
}

/** RabbitMQ's heartbeat for a lease of `ttlMs`: two missed ones (the dead-peer rule) fit in the ttl. */
export function leaseHeartbeatS(ttlMs: number): number {
  return Math.max(1, Math.floor(ttlMs / 2000));
}

function rpc(ch: Channel, method: number, expect: number): Promise<unknown> {
  return (ch as unknown as { rpc(m: number, f: object, e: number): Promise<unknown> }).rpc(method, {}, expect);
}

function parseToken(raw: Buffer | undefined): Token | null {
  if (!raw) return null;
  try {
    const v = parseJson(raw.toString('utf8')) as Partial<Token> | null;
    if (!v || typeof v !== 'object' || !v.state || typeof v.state !== 'object') return null;
    const state: Record<string, string> = {};
    for (const [k, x] of Object.entries(v.state)) if (typeof x === 'string') state[k] = x;
    return { holder: typeof v.holder === 'string' ? v.holder : '', state };
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class AmqpLeases implements LeaseStore {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly info: AmqpUrlInfo,
    private readonly host: AmqpLeaseHost,
  ) {}

  private async open(heartbeat: number): Promise<ChannelModel> {
    try {
      const model = await amqp.connect({ ...this.info.connect, heartbeat }, { timeout: CONNECT_TIMEOUT_MS, noDelay: true, clientProperties: { connection_name: `sprig beat lease pid ${process.pid}` } });
      model.on('error', noop);
      return model;
    } catch (err) {
      throw new ConnectionError(describeConnectError(this.info, err), { cause: err });
    }
  }

  private async channel(model: ChannelModel): Promise<Channel> {
    const ch = await model.createChannel();
    ch.on('error', noop);
    return ch;
  }

  private alive(name: string, holder: string): Held | undefined {
    const h = this.held.get(name);
    return h && !h.dead && h.holder === holder ? h : undefined;
  }

  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const q = beatQueues(name);
    const h = this.held.get(name);
    if (h && !h.dead) return h.holder === holder;
    if (h) await this.drop(name, h);
    const model = await this.open(leaseHeartbeatS(ttlMs));
    try {
      const ch = await this.channel(model);
      try {
        await ch.assertQueue(q.lease, { exclusive: true, durable: false, autoDelete: true });
      } catch (err) {
        if (replyCode(err) === RESOURCE_LOCKED) {
          await model.close().catch(noop);
          return false;
        }
        throw err;
      }
      // Whether a token was ever made: a state queue that exists holds one (maybe on its way back from a dead holder).
      const existed = await ch.checkQueue(q.state).then(() => true, () => false);
      const ch2 = existed ? ch : await this.channel(model);
      await ch2.assertQueue(q.state, { durable: true });
      await ch2.assertQueue(q.snapshot, { durable: true, arguments: { 'x-max-length': 1 } });
      const tx = await this.channel(model);
      await rpc(tx, TX_SELECT, TX_SELECT_OK);
      const held: Held = { holder, model, tx, state: {}, dead: false };
      model.on('close', () => (held.dead = true));
      held.token = await this.take(tx, q.state, existed ? Math.max(2000, ttlMs) : 0);
      if (held.token) held.state = parseToken(held.token.content)?.state ?? {};
      else {
        if (existed) log.warn(`beat lease ${name}: the state queue ${q.state} has no token (a scheduler died while creating it?): starting from the snapshot`);
        held.state = existed ? ((await this.readSnapshot(ch2, q.snapshot))?.state ?? {}) : {};
        // The first token: published (and committed) now, then held like any other.
        await this.writeToken(held, q, []);
        held.token = await this.take(tx, q.state, 5000);
        if (!held.token) throw new ConnectionError(`beat lease ${name}: the token just published to ${q.state} did not come back`);
      }
      this.held.set(name, held);
      return true;
    } catch (err) {
      await model.close().catch(noop);
      throw err;
    }
  }

  /** basic.get the token (unacked: it is ours until we ack it or our connection dies), waiting up to `waitMs`. */
  private async take(ch: Channel, queue: string, waitMs: number): Promise<GetMessage | undefined> {
    const until = Date.now() + waitMs;
    for (;;) {
      const m = await ch.get(queue, { noAck: false });
      if (m) return m;
      if (Date.now() >= until) return undefined;
      await sleep(100);
    }
  }

  private async readSnapshot(ch: Channel, queue: string): Promise<Token | null> {
    const m = await ch.get(queue, { noAck: false });
    if (!m) return null;
    ch.nack(m, false, true);
    return parseToken(m.content);
  }

  /** One transaction: the task messages, the new token and snapshot, the old token acked. */
  private async writeToken(h: Held, q: ReturnType<typeof beatQueues>, publish: ReadonlyArray<{ queue: string; message: TransportMessage }>): Promise<void> {
    const body = Buffer.from(JSON.stringify({ holder: h.holder, state: h.state } satisfies Token));
    for (const { queue, message } of publish) h.tx.publish('', queue, message.body, toPublishOptions(message));
    const props = { contentType: 'application/json', deliveryMode: 2 };
    h.tx.publish('', q.state, body, props);
    h.tx.publish('', q.snapshot, body, props);
    if (h.token) h.tx.ack(h.token);
    h.token = undefined;
    await rpc(h.tx, TX_COMMIT, TX_COMMIT_OK);
  }

  async commit(name: string, holder: string, changes: readonly LeaseStateChange[], publish: ReadonlyArray<{ queue: string; message: TransportMessage }>): Promise<LeaseCommitResult> {
    const h = this.alive(name, holder);
    if (!h || !h.token) return 'not-holder';
    for (const c of changes) if ((h.state[c.field] ?? null) !== c.expect) return 'conflict';
    const q = beatQueues(name);
    for (const queue of new Set(publish.map((p) => p.queue))) await this.host.declareQueue(queue);
    const before = h.state;
    h.state = { ...h.state };
    for (const c of changes) h.state[c.field] = c.value;
    try {
      await this.writeToken(h, q, publish);
    } catch (err) {
      // Not committed, or committed and the reply lost: either way the next holder (us again,
      // maybe) reads the token that RabbitMQ has, and decides from it.
      h.state = before;
      log.warn(`beat lease ${name}: commit failed: ${(err as Error).message}`);
      await this.drop(name, h);
      return 'not-holder';
    }
    h.token = await this.take(h.tx, q.state, 5000).catch(() => undefined);
    if (!h.token) {
      log.warn(`beat lease ${name}: the new token did not come back; giving the lease up`);
      await this.drop(name, h);
    }
    return 'ok';
  }

  async release(name: string, holder: string): Promise<void> {
    const h = this.held.get(name);
    if (h && h.holder === holder) await this.drop(name, h);
  }

  private async drop(name: string, h: Held): Promise<void> {
    if (this.held.get(name) === h) this.held.delete(name);
    h.dead = true;
    // Closing the connection frees the exclusive lease queue and requeues the token.
    await h.model.close().catch(noop);
  }

  async read(name: string): Promise<LeaseSnapshot> {
    const mine = [...this.held.entries()].find(([n, h]) => n === name && !h.dead)?.[1];
    if (mine) return { holder: mine.holder, state: { ...mine.state } };
    const q = beatQueues(name);
    const model = await this.open(0);
    try {
      const ch = await this.channel(model);
      const snap = await this.readSnapshot(ch, q.snapshot).catch((err: unknown) => {
        if (replyCode(err) === 404) return null;
        throw err;
      });
      const probe = await this.channel(model);
      // The lease queue exists while its connection lives (to another connection, a passive
      // declare of it fails with RESOURCE_LOCKED): someone holds it.
      const held = await probe.checkQueue(q.lease).then(
        () => true,
        (err: unknown) => replyCode(err) === RESOURCE_LOCKED,
      );
      return { holder: held ? (snap?.holder ?? '?') : null, state: snap?.state ?? {} };
    } finally {
      await model.close().catch(noop);
    }
  }

  async close(): Promise<void> {
    for (const [name, h] of [...this.held]) await this.drop(name, h);
  }
}

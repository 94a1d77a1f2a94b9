/**
 * RabbitMQ on a 3-node cluster (engines.ts), with Celery 5.5's quorum queues:
 * - 10,000 acks-late tasks on a quorum queue; the node holding the queue's leader is stopped at 30 %:
 *   every result, 0 lost, and the worker goes on (the longest pause in progress is reported and bounded);
 * - a poison message goes to `<queue>.dead-letter` after the queue's delivery limit.
 * The worker and the clients get kombu's failover list `amqp://…:5681//;amqp://…:5682//;…`.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { connect } from 'amqplib';
import Redis from 'ioredis';
import { FIXTURE_TASKS, ROOT, uniqueQueue, waitFor } from '../helpers.js';
import { startRabbitCluster, type RabbitCluster, type RabbitNode } from './engines.js';
import { runTasks } from './scenarios.js';

const N = Number(process.env.SPRIG_HA_TASKS ?? 10_000);
const TRACE = 'redis://127.0.0.1:6379/0';
const TASKS = path.join(ROOT, 'test/fixtures/fault-tasks.ts');

/** The node that holds `queue`'s leader, as the cluster reports it. */
function leaderOf(cluster: RabbitCluster, queue: string): RabbitNode {
  for (const n of cluster.nodes) {
    try {
      const out = cluster.ctl(n, 'list_queues', '-q', '--no-table-headers', 'name', 'leader');
      const line = out.split('\n').find((l) => l.split(/\s+/)[0] === queue);
      const leader = line?.trim().split(/\s+/)[1];
      const node = cluster.nodes.find((x) => x.name === leader);
      if (node) return node;
    } catch {
      /* try another node */
    }
  }
  throw new Error(`no node reports a leader for ${queue}`);
}

function queueType(cluster: RabbitCluster, queue: string): string {
  const out = cluster.ctl(cluster.nodes[1]!, 'list_queues', '-q', '--no-table-headers', 'name', 'type');
  return out.split('\n').find((l) => l.split(/\s+/)[0] === queue)?.trim().split(/\s+/)[1] ?? 'missing';
}

/** A poison message: rejected with requeue over and over, it leaves for the dead-letter queue at the limit. */
async function poison(cluster: RabbitCluster, url: string): Promise<string> {
  const { App } = await import('../../runtime/src/index.js');
  const queue = uniqueQueue();
  const app = new App({ brokerUrl: url.replace('task_default_queue_type=quorum', 'task_default_queue_type=quorum&delivery_limit=3'), resultBackend: TRACE, defaultQueue: queue });
  try {
    await app.sendTask('mark', ['x', 0, 0]).sent;
    const live = cluster.nodes.find((n) => !n.down)!;
    const c = await connect(`amqp://guest:guest@127.0.0.1:${live.port}`);
    const ch = await c.createChannel();
    let deliveries = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`still delivered after ${deliveries} deliveries`)), 30_000);
      void ch.consume(queue, (m) => {
        if (!m) return;
        deliveries++;
        ch.nack(m, false, true);
        if (deliveries > 4) {
          clearTimeout(timer);
          reject(new Error('delivered more than 1 + delivery_limit times'));
        }
      });
      const poll = setInterval(async () => {
        const q = await ch.checkQueue(`${queue}.dead-letter`).catch(() => undefined);
        if (q && q.messageCount === 1) {
          clearInterval(poll);
          clearTimeout(timer);
          resolve();
        }
      }, 100);
    });
    await c.close();
    return `PASS rabbit poison: x-delivery-limit 3: dead-lettered into <queue>.dead-letter after ${deliveries} deliveries`;
  } finally {
    await app.close();
  }
}

/**
 * Native delayed delivery: a task due in 1 hour waits in the `celery_delayed_*` levels, not in the
 * worker (which holds nothing and has nothing scheduled); one due in 3 s comes home and runs.
 */
async function longEta(cluster: RabbitCluster, url: string): Promise<string> {
  const { App, Worker } = await import('../../runtime/src/index.js');
  const queue = uniqueQueue();
  const app = new App({ brokerUrl: url, resultBackend: TRACE, defaultQueue: queue });
  const w = new Worker({
    app: FIXTURE_TASKS,
    logWrite: () => undefined,
    config: { brokerUrl: url, resultBackend: TRACE, worker: { pool: 'async', concurrency: 2, queues: [queue], hostname: `eta-${queue}@test` } },
  });
  await w.start();
  try {
    const far = app.sendTask('add', [1, 2], {}, { countdown: 3600 });
    await far.sent;
    const near = app.sendTask('add', [2, 2], {}, { countdown: 3 });
    const got = await near.get({ timeout: 60_000 });
    if (got !== 4) throw new Error(`the 3 s ETA task returned ${JSON.stringify(got)}`);
    const node = cluster.nodes.find((n) => !n.down)!;
    // 3600 s = 0b111000010000: it waits in level 11 (TTL 2048 s) first. Queue stats lag a few
    // seconds behind (quorum queues emit them periodically): poll until they settle.
    const expected = 'celery_delayed_11';
    let waiting: string[][] = [];
    let inQueue = -1;
    await waitFor(
      () => {
        const out = cluster.ctl(node, 'list_queues', '-q', '--no-table-headers', 'name', 'messages');
        const rows = out.split('\n').map((l) => l.trim().split(/\s+/));
        waiting = rows.filter(([name, n]) => name?.startsWith('celery_delayed_') && Number(n) > 0);
        inQueue = Number(rows.find(([name]) => name === queue)?.[1] ?? -1);
        return waiting.length === 1 && waiting[0]![0] === expected && inQueue === 0;
      },
      30_000,
      `the 1-hour task in ${expected} only`,
    ).catch(() => undefined);
    const held = (w.broker as unknown as { qos: { size: number } }).qos.size;
    const scheduled = JSON.stringify(await app.control.inspect('scheduled', { timeout: 3 }));
    const ok = waiting.length === 1 && waiting[0]![0] === expected && inQueue === 0 && held === 0 && !scheduled.includes(far.id);
    return `${ok ? 'PASS' : 'FAIL'} rabbit ETA: 1-hour task waits in ${waiting.map(([n]) => n).join(',') || 'no delay level'}, ${inQueue} in its queue, worker holds ${held}, scheduled ${scheduled.includes(far.id) ? 'has it' : 'empty'}; a 3 s ETA came back and ran (4)`;
  } finally {
    await w.stop();
    await app.close();
  }
}

/** leaderOf, asked again for up to 30 s (a queue just declared, or between two leaders, has none yet). */
async function leaderSoon(cluster: RabbitCluster, queue: string): Promise<RabbitNode> {
  let found: RabbitNode | undefined;
  await waitFor(() => {
    try {
      found = leaderOf(cluster, queue);
      return true;
    } catch {
      return false;
    }
  }, 30_000, `a leader for ${queue}`);
  return found!;
}

/**
 * A leader change with every node up, then a consumer cancel sent by the server: an in-process
 * worker consumes a quorum queue; at 30 % of 2,000 tasks the leader's member is removed
 * (`rabbitmq-queues delete_member`: the leader moves, no node stops) and added back; once all ran,
 * the queue is deleted under the worker (RabbitMQ sends basic.cancel) and 50 more tasks must run:
 * the consumer declares the queue again and resumes, it does not stall.
 */
async function leaderMoveAndCancel(cluster: RabbitCluster, url: string): Promise<string> {
  const { App, Worker } = await import('../../runtime/src/index.js');
  const queue = uniqueQueue();
  const traceKey = `${queue}:runs`;
  const trace = new Redis(TRACE);
  const app = new App({ brokerUrl: url, resultBackend: TRACE, defaultQueue: queue });
  process.env.SPRIG_FAULT_TRACE_URL = TRACE;
  const w = new Worker({
    app: TASKS,
    logWrite: () => undefined,
    config: { brokerUrl: url, resultBackend: TRACE, worker: { pool: 'async', concurrency: 4, queues: [queue], hostname: `cancel-${queue}@test` } },
  });
  const queues = (n: RabbitNode, ...args: string[]) => execFileSync('rabbitmq-queues', ['-n', n.name, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  const started = async () => Number(await trace.hlen(traceKey));
  const send = async (from: number, n: number) => {
    for (let i = from; i < from + n; i += 500) {
      await app.sendMany(Array.from({ length: Math.min(500, from + n - i) }, (_, k) => ({ name: 'mark', args: [traceKey, i + k, 1], options: { queue } })));
    }
  };
  let cancels = 0;
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (String(chunk).includes(`consumer on queue ${queue} was cancelled by the broker`)) cancels++;
    return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  let longestPause = 0;
  const watchPauses = () => {
    let last = Date.now();
    let seen = -1;
    return setInterval(() => {
      void started().then((now) => {
        if (now !== seen) {
          seen = now;
          last = Date.now();
        } else longestPause = Math.max(longestPause, Date.now() - last);
      });
    }, 100);
  };
  const N1 = 2000;
  let progress: NodeJS.Timeout | undefined;
  try {
    await w.start();
    await send(0, N1);
    const before = await leaderSoon(cluster, queue);
    await waitFor(async () => (await started()) >= N1 * 0.3, 120_000, '30% of the tasks started');
    progress = watchPauses();
    queues(cluster.nodes.find((n) => !n.down && n !== before) ?? before, 'delete_member', queue, before.name);
    // The leader moves by an election among the remaining members: wait until one reports it.
    let after = before;
    await waitFor(async () => {
      after = await leaderSoon(cluster, queue);
      return after !== before;
    }, 60_000, `a leader other than ${before.name}`);
    queues(after, 'add_member', queue, before.name);
    await waitFor(async () => (await started()) >= N1, 120_000, `all ${N1} tasks started after the leader moved`);
    const cancelsBefore = cancels;
    // Now a cancel the server sends for sure: the queue is deleted under the consumer. (The broker's
    // warnings go to stderr, not to the worker's logWrite: count them there.)
    cluster.ctl(after, 'delete_queue', queue);
    await waitFor(() => cancels > 0, 30_000, 'the worker told of the cancel (its warning)');
    await send(N1, 50);
    await waitFor(async () => (await started()) >= N1 + 50, 60_000, '50 tasks sent after the cancel');
    clearInterval(progress);
    const runs = Object.values(await trace.hgetall(traceKey)).map(Number);
    const lost = N1 + 50 - runs.length;
    const ok = lost === 0 && longestPause < 30_000;
    return `${ok ? 'PASS' : 'FAIL'} rabbit leader move + cancel: leader ${before.name} -> ${after.name} by delete_member (no node stopped), ${cancelsBefore} consumer cancel(s) during the move; longest pause ${(longestPause / 1000).toFixed(1)} s; queue deleted under the worker: cancel received, queue declared again, 50 more tasks ran; ${N1 + 50} tasks, lost ${lost}, duplicates ${runs.reduce((a, k) => a + (k - 1), 0)}`;
  } finally {
    process.stderr.write = write;
    clearInterval(progress);
    await w.stop();
    await app.close();
    await trace.del(traceKey);
    trace.disconnect();
  }
}

export async function rabbitScenario(): Promise<string[]> {
  const cluster = await startRabbitCluster();
  try {
    const [first, ...rest] = cluster.url.split(';');
    const url = [`${first}?task_default_queue_type=quorum`, ...rest].join(';');
    const queue = uniqueQueue();
    const trace = new Redis(TRACE);
    let leader: RabbitNode | undefined;
    let type = '';
    let longestPause = 0;
    let stoppedAt = 0;
    let progress: NodeJS.Timeout | undefined;
    // First, with every node up: a leader moved under a running worker, then a server cancel.
    const moved = await leaderMoveAndCancel(cluster, url).catch((err: Error) => `FAIL rabbit leader move + cancel: ${err.message}`);
    const r = await runTasks({
      brokerUrl: url,
      resultBackend: TRACE,
      queues: [queue],
      n: N,
      async afterSend() {
        type = queueType(cluster, queue);
        if (type !== 'quorum') throw new Error(`${queue} is a ${type} queue, expected quorum`);
        leader = leaderOf(cluster, queue);
      },
      async fault({ traceKey }) {
        // From here on, the longest time without a task starting: the worker must not stall.
        let last = Date.now();
        let seen = await trace.hlen(traceKey);
        progress = setInterval(async () => {
          const now = await trace.hlen(traceKey);
          if (now > seen || now >= N) {
            seen = now;
            last = Date.now();
          } else longestPause = Math.max(longestPause, Date.now() - last);
        }, 100);
        stoppedAt = Date.now();
        await cluster.stopNode(leader!);
      },
    });
    clearInterval(progress);
    trace.disconnect();
    const newLeader = (() => {
      try {
        return leaderOf(cluster, queue).name;
      } catch {
        return '?';
      }
    })();
    const pass = r.lost === 0 && r.succeeded === N && longestPause < 60_000;
    const lines = [
      `${pass ? 'PASS' : 'FAIL'} rabbit: sent=${r.sent} on a ${type} queue, 3-node cluster, succeeded=${r.succeeded} lost=${r.lost} duplicates=${r.duplicates}; leader ${leader!.name} stopped (${((Date.now() - stoppedAt) / 1000).toFixed(0)} s ago), new leader ${newLeader}; longest pause in progress after the stop ${(longestPause / 1000).toFixed(1)} s; ${r.secs.toFixed(1)} s`,
    ];
    if (!pass) lines.push(r.log.slice(-2000));
    lines.push(await poison(cluster, url).catch((err: Error) => `FAIL rabbit poison: ${err.message}`));
    lines.push(await longEta(cluster, url).catch((err: Error) => `FAIL rabbit ETA: ${err.message}`));
    lines.push(moved);
    return lines;
  } finally {
    await cluster.stop();
  }
}

/** `npm run test:ha rabbit-cancel`: only the leader move and the server cancel, on a fresh cluster. */
export async function rabbitCancelScenario(): Promise<string> {
  const cluster = await startRabbitCluster();
  try {
    const [first, ...rest] = cluster.url.split(';');
    return await leaderMoveAndCancel(cluster, [`${first}?task_default_queue_type=quorum`, ...rest].join(';'));
  } finally {
    await cluster.stop();
  }
}

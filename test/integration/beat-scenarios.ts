/**
 * The `sprig beat` scenarios on one real broker (one active scheduler of two, a `kill -9` takeover
 * with every due run sent exactly once, persistence across a restart, hot reload, `--list`), shared
 * by beat.test.ts (Redis) and beat-{embedded,postgres,amqp}.test.ts: one file per broker, so no
 * file runs into the runner's per-file time limit on a loaded machine.
 */
import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { runCli, cliResult, tmpDir, stopEmbeddedBroker, waitFor, type Spawned } from '../helpers.js';
import { REDIS_URL } from './redis-helpers.js';
import { dropSchema, PG_BASE, pgUrl, testSchema } from './postgres-helpers.js';
import { PostgresBroker } from '../../runtime/src/brokers/postgres/postgres-broker.js';
import { RedisBroker } from '../../runtime/src/brokers/redis/redis-broker.js';
import { EmbeddedBroker } from '../../runtime/src/brokers/embedded/embedded-broker.js';
import { leaseKeys } from '../../runtime/src/brokers/redis/redis-lease.js';
import { bindingKey, queueKeys } from '../../runtime/src/brokers/redis/keys.js';
import type { Broker } from '../../runtime/src/brokers/types.js';
import { AmqpBroker } from '../../runtime/src/brokers/amqp/amqp-broker.js';
import { beatQueues } from '../../runtime/src/brokers/amqp/amqp-leases.js';
import { AMQP_PLAIN_URL } from './amqp-helpers.js';

/** Delete RabbitMQ queues (a beat's token, snapshot and lease queues; a test's task queue). */
export async function deleteAmqpQueues(...queues: string[]): Promise<void> {
  const b = new AmqpBroker(AMQP_PLAIN_URL);
  await b.connect();
  for (const q of queues) await b.deleteQueue(q).catch(() => undefined);
  await b.close();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const LEASE_TTL_S = 3;
/** What beat documents: a standby takes over within ttl + ttl/5 after the active one dies. */
const TAKEOVER_BOUND_MS = LEASE_TTL_S * 1000 * 1.2;
/** Room for a loaded machine (2 cores at load 5+): delivery and process scheduling delays. */
const SLACK_MS = 2000;

interface Run {
  entry: string;
  task: string;
  due: number;
  id: string;
  scheduler: string;
  at: number;
}

export type Kind = 'redis' | 'embedded' | 'postgres' | 'amqp';

/** One test's project: a folder with a tasks file, a broker, a consumer of the beat's queue, cleanup. */
export class BeatProject {
  readonly dir = tmpDir('sprig-beat-');
  readonly queue = `test-${randomUUID()}`;
  readonly name = `test-${randomUUID()}`;
  readonly runs: Run[] = [];
  readonly procs: Spawned[] = [];
  readonly schema = testSchema();
  private broker?: Broker;

  constructor(readonly kind: Kind) {
    fs.writeFileSync(path.join(this.dir, 'package.json'), JSON.stringify({ name: 'beat-test', private: true }));
  }

  get tasksFile(): string {
    return path.join(this.dir, 'tasks.ts');
  }

  get env(): NodeJS.ProcessEnv {
    return { SPRIG_BROKER_URL: this.url, SPRIG_PROJECT_DIR: this.dir, SPRIG_LOG_LEVEL: 'info' };
  }

  get url(): string {
    return this.kind === 'redis' ? REDIS_URL : this.kind === 'postgres' ? pgUrl(this.schema) : this.kind === 'amqp' ? AMQP_PLAIN_URL : 'sprig://';
  }

  writeTasks(schedule: string, extra = ''): void {
    fs.writeFileSync(
      this.tasksFile,
      `import { task, defineSchedule } from 'sprig-queue';\n` +
        `export const tick = task('beat.tick', (n: number) => n);\n` +
        `${extra}\n` +
        `export const schedule = defineSchedule(${schedule});\n`,
    );
  }

  /** Start consuming the beat's queue (for the embedded broker this also starts the broker). */
  async consume(): Promise<void> {
    this.broker =
      this.kind === 'redis'
        ? new RedisBroker(REDIS_URL)
        : this.kind === 'postgres'
          ? new PostgresBroker(this.url)
          : this.kind === 'amqp'
            ? new AmqpBroker(this.url)
            : new EmbeddedBroker('sprig://', { projectDir: this.dir });
    await this.broker.connect();
    await this.broker.consume([this.queue], 100, (d) => {
      const h = d.message!.headers;
      this.runs.push({
        entry: String(h.beat_entry),
        task: String(h.task),
        due: Date.parse(String(h.beat_due_at)),
        id: String(h.id),
        scheduler: String(h.beat_scheduler),
        at: Date.now(),
      });
      this.broker!.ack(d);
    });
  }

  beat(...args: string[]): Spawned {
    const p = runCli(['beat', '--app', this.tasksFile, '--name', this.name, '--lease-ttl', String(LEASE_TTL_S), ...args], { cwd: this.dir, env: this.env });
    this.procs.push(p);
    return p;
  }

  list(...args: string[]) {
    return cliResult(['beat', '--app', this.tasksFile, '--name', this.name, '--list', ...args], { cwd: this.dir, env: this.env, timeoutMs: 60_000 });
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
    await this.broker?.close().catch(() => undefined);
    if (this.kind === 'redis') {
      const r = new Redis(REDIS_URL);
      const k = leaseKeys(this.name);
      await r.del(k.lease, k.state, ...queueKeys(this.queue), bindingKey(this.queue));
      r.disconnect();
    } else if (this.kind === 'postgres') await dropSchema(PG_BASE, this.schema);
    else if (this.kind === 'amqp') await deleteAmqpQueues(...Object.values(beatQueues(this.name)), this.queue);
    else stopEmbeddedBroker(this.dir);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const schedulerOf = (p: Spawned) => new RegExp(`:${p.proc.pid}:`);
const dues = (runs: readonly Run[]) => runs.map((r) => r.due).sort((a, b) => a - b);

function assertEachDueOnce(runs: readonly Run[], label: string): void {
  const ids = new Set(runs.map((r) => r.id));
  assert.equal(ids.size, runs.length, `${label}: a run was sent twice (duplicate task ids)`);
  const d = dues(runs);
  assert.equal(new Set(d).size, d.length, `${label}: a due time was sent twice`);
}

export function beatScenarios(kind: Kind): void {
  describe(`sprig beat on ${kind}`, () => {
    const projects: BeatProject[] = [];
    const project = () => {
      const p = new BeatProject(kind);
      projects.push(p);
      return p;
    };
    after(async () => {
      for (const p of projects) await p.cleanup();
    });

    it('two beats, one active; kill -9 the active one: every due run of a 1 s schedule over 30 s is sent exactly once', async (t) => {
      const p = project();
      p.writeTasks(`{ tick: { task: tick, every: 1, args: [1], catchUp: 'all', options: { queue: '${p.queue}' } } }`);
      await p.consume();
      const a = p.beat();
      await waitFor(() => /active \(holds the lease/.test(a.err()), 30_000, `beat A active\n${a.err()}`);
      const b = p.beat();
      await waitFor(() => /standing by/.test(b.err()), 30_000, `beat B standing by\n${b.err()}`);
      await waitFor(() => p.runs.length >= 10, 30_000, 'ten runs from A');
      // Both run: only A sends.
      assert.ok(p.runs.every((r) => schedulerOf(a).test(r.scheduler)), 'a run came from the standby while the active scheduler lived');
      a.proc.kill('SIGKILL');
      const killedAt = Date.now();
      const sentByA = p.runs.length;
      await waitFor(() => /active \(holds the lease/.test(b.err()), 30_000, `beat B takes over\n${b.err()}`);
      const tookOverAfter = Date.now() - killedAt;
      await waitFor(() => dues(p.runs).at(-1)! - dues(p.runs)[0]! >= 30_000, 60_000, '30 s of runs');
      b.proc.kill('SIGTERM');
      assert.equal(await b.exit, 0, b.err());
      await sleep(500);
      assertEachDueOnce(p.runs, kind);
      const d = dues(p.runs);
      assert.ok(d.length >= 31, `${d.length} runs over 30 s`);
      // No gap: every due time of the 1 s schedule from the first to the last is there.
      for (let i = 1; i < d.length; i++) assert.equal(d[i]! - d[i - 1]!, 1000, `due times ${new Date(d[i - 1]!).toISOString()} -> ${new Date(d[i]!).toISOString()}`);
      // One scheduler at a time: A's runs, then B's; B sent every run after the kill.
      const order = p.runs.map((r) => (schedulerOf(a).test(r.scheduler) ? 'A' : schedulerOf(b).test(r.scheduler) ? 'B' : '?'));
      assert.match(order.join(''), /^A+B+$/);
      assert.ok(order.lastIndexOf('A') + 1 >= sentByA);
      // The longest wait between two runs arriving is within the documented takeover bound.
      const arrivals = p.runs.map((r) => r.at).sort((x, y) => x - y);
      const maxGap = Math.max(...arrivals.slice(1).map((x, i) => x - arrivals[i]!));
      t.diagnostic(`${kind}: ${d.length} runs, takeover ${tookOverAfter} ms after kill -9, longest gap between runs ${maxGap} ms (bound ${TAKEOVER_BOUND_MS} ms)`);
      assert.ok(maxGap <= TAKEOVER_BOUND_MS + SLACK_MS, `longest gap ${maxGap} ms over the bound ${TAKEOVER_BOUND_MS} ms (+${SLACK_MS} ms slack)`);
    });

    it('a restart continues from the persisted last run: neither skips nor doubles a due run', async () => {
      const p = project();
      p.writeTasks(`{ tick: { task: tick, every: 1, args: [1], options: { queue: '${p.queue}' } } }`);
      await p.consume();
      const a = p.beat();
      await waitFor(() => p.runs.length >= 3, 30_000, `three runs\n${a.err()}`);
      a.proc.kill('SIGTERM');
      assert.equal(await a.exit, 0, a.err());
      await sleep(500);
      const before = dues(p.runs);
      const stoppedAt = Date.now();
      await sleep(3000); // about three runs fall due while no scheduler runs
      const a2 = p.beat();
      await waitFor(() => /active \(holds the lease/.test(a2.err()), 30_000, `restarted beat active\n${a2.err()}`);
      const activeAt = Date.now();
      await waitFor(() => p.runs.length >= before.length + 3, 30_000, `three runs after the restart\n${a2.err()}`);
      a2.proc.kill('SIGTERM');
      assert.equal(await a2.exit, 0);
      await sleep(300);
      assertEachDueOnce(p.runs, kind);
      const d = dues(p.runs);
      const last = before.at(-1)!;
      const afterRestart = d.filter((x) => x > last);
      // Continuity: the due times stay on the grid of the first run (a fresh start would pick a new one).
      for (const x of d) assert.equal((x - d[0]!) % 1000, 0, 'due times on one 1 s grid');
      // Catch-up 'latest' (the default): the runs missed while stopped are sent once, as the latest of them, at start.
      const first = afterRestart[0]!;
      assert.ok(first >= stoppedAt + 2000 && first <= activeAt + 1000, `the catch-up run is due ${new Date(first).toISOString()}, while stopped`);
      assert.ok(first - last >= 3000, 'the missed runs were collapsed into one');
      for (let i = 1; i < afterRestart.length; i++) assert.equal(afterRestart[i]! - afterRestart[i - 1]!, 1000);
    });

    it('picks up a schedule change without a restart; a bad edit keeps the old schedule and says where', async () => {
      const p = project();
      p.writeTasks(`{ old: { task: 'beat.old', every: 1, options: { queue: '${p.queue}' } } }`);
      await p.consume();
      const a = p.beat();
      await waitFor(() => p.runs.filter((r) => r.entry === 'old').length >= 2, 30_000, `runs of the old entry\n${a.err()}`);
      p.writeTasks(`{ fresh: { task: 'beat.fresh', every: 0.5, options: { queue: '${p.queue}' } } }`);
      await waitFor(() => /schedule reloaded: \[fresh\]/.test(a.err()), 30_000, `reload\n${a.err()}`);
      const reloadedAt = Date.now();
      // A new entry is anchored at the reload: its first run is due half a second later.
      await waitFor(() => p.runs.filter((r) => r.entry === 'fresh').length >= 2, 30_000, 'runs of the new entry');
      fs.writeFileSync(p.tasksFile, `import { task } from 'sprig-queue';\nexport const schedule = {\n  fresh: { task: 'beat.fresh', every: },\n};\n`);
      await waitFor(() => /schedule not reloaded: .*tasks\.ts:3:\d+: .*still running the previous schedule/.test(a.err()), 30_000, `the bad edit reported\n${a.err()}`);
      const n = p.runs.filter((r) => r.entry === 'fresh').length;
      await waitFor(() => p.runs.filter((r) => r.entry === 'fresh').length >= n + 2, 30_000, 'runs go on after a bad edit');
      // An invalid entry (not a syntax error) is refused the same way, with the entry's line.
      p.writeTasks(`{\n  fresh: { task: 'beat.fresh', every: -5, options: { queue: '${p.queue}' } },\n}`);
      await waitFor(() => /schedule not reloaded: .*tasks\.ts:5: schedule entry "fresh"\.every must be at least 100 ms/.test(a.err()), 30_000, `the invalid entry reported\n${a.err()}`);
      a.proc.kill('SIGTERM');
      await a.exit;
      assert.ok(p.runs.filter((r) => r.entry === 'old' && r.at > reloadedAt + 1000).length === 0, 'the removed entry stopped');
      assert.ok(p.runs.every((r) => (r.entry === 'old' ? r.task === 'beat.old' : r.task === 'beat.fresh')));
      assertEachDueOnce(p.runs, kind);
    });

    it('--list and --list --json: the entries with their next and last run', async () => {
      const p = project();
      p.writeTasks(
        `{\n  tick: { task: tick, every: '1s', args: [7], options: { queue: '${p.queue}', expires: 30 } },\n` +
          `  nightly: { task: 'reports.nightly', crontab: { minute: 0, hour: 3 }, timezone: 'Europe/Paris', kwargs: { full: true } },\n` +
          `  once: { task: 'reports.once', at: '2099-01-01T00:00:00Z' },\n}`,
      );
      const first = await p.list('--json');
      assert.equal(first.code, 0, first.stderr);
      const rows = JSON.parse(first.stdout) as Array<Record<string, unknown>>;
      assert.deepEqual(rows.map((r) => Object.keys(r)), rows.map(() => ['name', 'task', 'schedule', 'nextRunAt', 'lastRunAt', 'args', 'kwargs', 'options']));
      const byName = new Map(rows.map((r) => [r.name, r]));
      assert.deepEqual(byName.get('tick'), {
        name: 'tick',
        task: 'beat.tick',
        schedule: 'every 1s',
        nextRunAt: byName.get('tick')!.nextRunAt,
        lastRunAt: null,
        args: [7],
        kwargs: {},
        options: { queue: p.queue, expires: 30 },
      });
      assert.ok(!Number.isNaN(Date.parse(String(byName.get('tick')!.nextRunAt))));
      assert.equal(byName.get('nightly')!.schedule, "crontab '0 3 * * *' Europe/Paris");
      const nightlyNext = new Date(String(byName.get('nightly')!.nextRunAt));
      assert.equal(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' }).format(nightlyNext), '03:00');
      assert.equal(byName.get('once')!.nextRunAt, '2099-01-01T00:00:00.000Z');
      await p.consume();
      const a = p.beat();
      await waitFor(() => p.runs.length >= 2, 30_000, `runs\n${a.err()}`);
      a.proc.kill('SIGTERM');
      await a.exit;
      await sleep(300);
      const second = await p.list('--json');
      const tick = (JSON.parse(second.stdout) as Array<Record<string, unknown>>).find((r) => r.name === 'tick')!;
      assert.equal(tick.lastRunAt, new Date(dues(p.runs).at(-1)!).toISOString());
      assert.equal(Date.parse(String(tick.nextRunAt)), dues(p.runs).at(-1)! + 1000);
      const text = await p.list();
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^NAME +TASK +SCHEDULE +NEXT RUN +LAST RUN\n/);
      assert.match(text.stdout, /\ntick +beat\.tick +every 1s +\S+Z +\S+Z\n/);
      assert.match(text.stdout, /\nnightly +reports\.nightly +crontab '0 3 \* \* \*' Europe\/Paris +\S+ +never\n/);
      // A bad definition: exit 2, the file, line and entry.
      p.writeTasks(`{\n  tick: { task: tick, crontab: '0 3 * *' },\n}`);
      const bad = await p.list('--json');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /tasks\.ts:5: schedule entry "tick"\.crontab must have 5 fields/);
    });
  });
}

/**
 * The HA test engines, started from Debian's packages on loopback, each under a temp dir of its own,
 * and stopped after (also on failure and on exit): a Redis master + 2 replicas + 3 sentinels, a
 * 6-node Redis Cluster (3 masters, 3 replicas), and 3 RabbitMQ nodes joined into a cluster. The
 * shared Redis on 6379 and RabbitMQ on 5672 are never touched. Every port is picked free at start
 * (freePorts), and every server checked to be ours (its pid); the pids of each engine are kept in its
 * temp dir, so a run killed before its clean-up has its servers killed by the next run (reapLeftovers).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { tmpDir, waitFor } from '../helpers.js';

export const HOST = '127.0.0.1';
const started = new Set<ChildProcess>();
const cleanups = new Set<() => void>();
/** Temp dirs of engines still up: removed on exit too (after their processes are gone). */
const dirs = new Set<string>();

/** Everything we started goes when this process does, however it ends. */
function stopAllNow(): void {
  for (const c of cleanups) {
    try {
      c();
    } catch {
      /* best effort */
    }
  }
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}

/**
 * Run an engine's start-up; if it fails, kill what it started (and run `onFail`, for VMs that are
 * not our children) and remove its dir, so a failed start leaves nothing behind.
 */
async function starting<T>(dir: string, fn: () => Promise<T>, onFail?: () => void): Promise<T> {
  dirs.add(dir);
  const before = new Set(started);
  try {
    return await fn();
  } catch (err) {
    onFail?.();
    const mine = [...started].filter((p) => !before.has(p));
    await Promise.all(mine.map((p) => stopProc(p, 'SIGKILL')));
    fs.rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
    throw err;
  }
}

function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}
process.on('exit', stopAllNow);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    stopAllNow();
    process.exit(130);
  });
}

// ---- Ports and leftovers ---------------------------------------------------------------------

function listen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, HOST, () => resolve(srv));
  });
}

/**
 * `n` distinct free loopback ports: bound (port 0: the kernel picks) and released together. With
 * `offset`, port + offset is free as well (a cluster node's bus port). A port taken again between
 * here and the server's start makes the start fail (the server is checked by its pid): retried.
 */
export async function freePorts(n: number, offset = 0): Promise<number[]> {
  const held: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < n; tries++) {
      if (tries > 200) throw new Error(`no ${n} free loopback ports${offset ? ` (with port + ${offset} free)` : ''}`);
      const srv = await listen(0);
      if (!srv) continue;
      held.push(srv);
      const port = (srv.address() as net.AddressInfo).port;
      if (offset) {
        const pair = port + offset <= 65535 ? await listen(port + offset) : undefined;
        if (!pair) continue;
        held.push(pair);
      }
      ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(held.map((srv) => new Promise((r) => srv.close(r))));
  }
}

const OWNER_FILE = 'owner.pid';
const PIDS_FILE = 'engine.pids';
const DIR_PREFIX = 'sprig-ha-';

/** An engine's temp dir: its owner (this process) and, as they start, its servers' pids are written there. */
function engineDir(kind: string): string {
  reapLeftovers();
  const dir = tmpDir(`${DIR_PREFIX}${kind}-`);
  fs.writeFileSync(path.join(dir, OWNER_FILE), String(process.pid));
  return dir;
}

function recordPid(dir: string, pid: number | undefined): void {
  if (pid) fs.appendFileSync(path.join(dir, PIDS_FILE), `${pid}\n`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A process whose working dir or command line is under `dir` (a reused pid is not ours). */
function runsIn(pid: number, dir: string): boolean {
  try {
    if (fs.realpathSync(`/proc/${pid}/cwd`).startsWith(dir)) return true;
  } catch {
    /* gone, or not readable */
  }
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
  } catch {
    return false;
  }
}

/**
 * Servers left by an earlier run of ours that died before its clean-up (kill -9, a CI timeout):
 * killed, their dirs removed. A dir whose owner still runs (another run on this machine) is left alone.
 */
function reapLeftovers(): void {
  const tmp = os.tmpdir();
  for (const name of fs.readdirSync(tmp)) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    let dir: string;
    let owner: number;
    try {
      dir = fs.realpathSync(path.join(tmp, name));
      owner = Number(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue; // not one of ours, or still being set up
    }
    if (owner === process.pid || (owner && alive(owner))) continue;
    let pids: number[] = [];
    try {
      pids = fs.readFileSync(path.join(dir, PIDS_FILE), 'utf8').split('\n').map(Number).filter((p) => p > 0);
    } catch {
      /* no server started */
    }
    const mine = pids.filter((p) => alive(p) && runsIn(p, dir));
    for (const p of mine) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
    if (mine.length) console.log(`[ha] killed ${mine.length} server(s) left by an earlier run (${dir})`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Start an engine; a start that fails (a port taken meanwhile) is tried again on new ports. */
async function withRetry<T>(what: string, start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (err) {
      if (i >= attempts) throw err;
      console.log(`[ha] ${what} did not start (${(err as Error).message.slice(0, 200)}): again on other ports`);
    }
  }
}

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** A Debian package's command, installed with apt-get when missing (as `.ci/run` must work on a clean machine). */
export function ensureCommand(cmd: string, pkg: string, required = true): boolean {
  if (have(cmd)) return true;
  const ok = installCommand(cmd, pkg);
  if (!ok && required) throw new Error(`${cmd} is not installed and apt-get install ${pkg} failed`);
  return ok;
}

function installCommand(cmd: string, pkg: string): boolean {
  console.log(`[ha] ${cmd} missing: apt-get install -y ${pkg}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Another apt run (a shared machine) holds the lock for a while: wait for it.
  const apt = (...args: string[]) => spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], { stdio: 'inherit', env, timeout: 600_000 });
  if (apt('install', '-y', '--no-install-recommends', pkg).status !== 0) {
    apt('update');
    apt('install', '-y', '--no-install-recommends', pkg);
  }
  return have(cmd);
}

function spawnTracked(dir: string, cmd: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): ChildProcess {
  const log = fs.openSync(logFile, 'a');
  const p = spawn(cmd, args, { stdio: ['ignore', log, log], env: env ? { ...process.env, ...env } : process.env });
  fs.closeSync(log);
  recordPid(dir, p.pid);
  started.add(p);
  p.on('exit', () => started.delete(p));
  return p;
}

async function stopProc(p: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill(signal);
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}

/** Wait until `proc` answers on `port` (another server there, or `proc` gone, fails at once). */
export async function redisPing(port: number, proc: ChildProcess, timeoutMs = 20_000): Promise<void> {
  const probe = new Redis(port, HOST, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  try {
    await waitFor(async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`redis on ${port} exited (${proc.exitCode ?? proc.signalCode}): port taken?`);
      let info: string;
      try {
        if (probe.status !== 'ready') await probe.connect();
        info = String(await probe.info('server'));
      } catch {
        probe.disconnect();
        return false;
      }
      const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
      if (pid !== proc.pid) throw new Error(`port ${port} is served by pid ${pid}, not by the redis we started (${proc.pid})`);
      return true;
    }, timeoutMs, `redis on ${port}`);
  } finally {
    probe.disconnect();
  }
}

/** A short-lived connection for one admin command. */
export async function redisCmd<T = unknown>(port: number, ...args: Array<string | number>): Promise<T> {
  const c = new Redis(port, HOST, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 2000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.call(String(args[0]), ...args.slice(1).map(String))) as T;
  } finally {
    c.disconnect();
  }
}

export interface RedisNode {
  port: number;
  proc: ChildProcess;
  kill9(): void;
}

function redisServer(dir: string, port: number, extra: string[]): RedisNode {
  const d = path.join(dir, String(port));
  fs.mkdirSync(d, { recursive: true });
  const proc = spawnTracked(dir, 'redis-server', ['--bind', HOST, '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', d, '--protected-mode', 'no', ...extra], path.join(d, 'log'));
  return { port, proc, kill9: () => proc.kill('SIGKILL') };
}

// ---- Redis Sentinel ---------------------------------------------------------------------------

export const MASTER_NAME = 'sprigha';

export interface SentinelSet {
  dir: string;
  nodes: RedisNode[];
  sentinels: ChildProcess[];
  url: string;
  /** The master's port as the sentinels see it now. */
  masterPort(): Promise<number>;
  stop(): Promise<void>;
}

export async function startSentinelSet(): Promise<SentinelSet> {
  ensureCommand('redis-server', 'redis-server');
  // Debian's redis-sentinel is redis-server in sentinel mode: use that if the package cannot be had.
  const sentinelCmd = ensureCommand('redis-sentinel', 'redis-sentinel', false) ? ['redis-sentinel'] : ['redis-server'];
  return withRetry('the Sentinel set', () => startSentinelSetOnce(sentinelCmd));
}

async function startSentinelSetOnce(sentinelCmd: string[]): Promise<SentinelSet> {
  const dir = engineDir('sentinel');
  const ports = await freePorts(6);
  const dataPorts = ports.slice(0, 3);
  const sentinelPorts = ports.slice(3);
  return starting(dir, async () => {
    const [m, ...rs] = dataPorts;
    const nodes = [redisServer(dir, m!, [])];
    await redisPing(m!, nodes[0]!.proc);
    for (const p of rs) nodes.push(redisServer(dir, p, ['--replicaof', HOST, String(m)]));
    for (const n of nodes.slice(1)) await redisPing(n.port, n.proc);
    // Attached is not enough: a replica still in its first full sync holds nothing yet, and a failover
    // that promotes it loses the data set (seen once: the early-kill run's new master had no queue).
    await waitFor(async () => (await redisCmd<string>(m!, 'INFO', 'replication')).match(/state=online/g)?.length === 2, 30_000, 'both replicas attached and synced');
    const sentinels = sentinelPorts.map((port) => {
      const conf = path.join(dir, `sentinel-${port}.conf`);
      fs.writeFileSync(
        conf,
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${dir}`,
          `sentinel monitor ${MASTER_NAME} ${HOST} ${m} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 10000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          '',
        ].join('\n'),
      );
      const [cmd] = sentinelCmd;
      return spawnTracked(dir, cmd!, cmd === 'redis-server' ? [conf, '--sentinel'] : [conf], path.join(dir, `sentinel-${port}.log`));
  });
  for (const [i, p] of sentinelPorts.entries()) await redisPing(p, sentinels[i]!);
  // Every sentinel knows the other two and both replicas before a test relies on a failover.
  for (const p of sentinelPorts) {
    await waitFor(async () => {
      const info = await redisCmd<string[]>(p, 'SENTINEL', 'MASTER', MASTER_NAME);
      const f = Object.fromEntries(info.reduce<Array<[string, string]>>((a, v, i) => (i % 2 ? a : [...a, [v, info[i + 1]!]]), []));
      return Number(f['num-other-sentinels']) === 2 && Number(f['num-slaves']) === 2;
    }, 60_000, `sentinel ${p} sees 2 sentinels and 2 replicas`);
  }
  const set: SentinelSet = {
    dir,
    nodes,
    sentinels,
    url: sentinelPorts.map((p) => `sentinel://${HOST}:${p}`).join(';'),
    async masterPort() {
      for (const p of sentinelPorts) {
        try {
          const [, port] = await redisCmd<[string, string]>(p, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME);
          return Number(port);
        } catch {
          /* try the next sentinel */
        }
      }
      throw new Error('no sentinel answers');
    },
    async stop() {
      await Promise.all([...sentinels.map((s) => stopProc(s)), ...nodes.map((n) => stopProc(n.proc))]);
      removeDir(dir);
    },
  };
  return set;
  });
}

// ---- Redis Cluster ----------------------------------------------------------------------------


export interface RedisClusterSet {
  dir: string;
  nodes: RedisNode[];
  url: string;
  /** master port -> its slot ranges, as CLUSTER SHARDS / SLOTS says now. */
  masters(): Promise<Array<{ port: number; slots: Array<[number, number]> }>>;
  stop(): Promise<void>;
}

/** A cluster node's bus port is its port + this (Redis' default). */
const CLUSTER_BUS_OFFSET = 10_000;

export async function startRedisCluster(): Promise<RedisClusterSet> {
  ensureCommand('redis-server', 'redis-server');
  ensureCommand('redis-cli', 'redis-tools');
  return withRetry('the Redis Cluster', startRedisClusterOnce);
}

async function startRedisClusterOnce(): Promise<RedisClusterSet> {
  const dir = engineDir('cluster');
  const ports = await freePorts(6, CLUSTER_BUS_OFFSET);
  return starting(dir, async () => {
    const nodes = ports.map((p) =>
      redisServer(dir, p, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${p}.conf`, '--cluster-node-timeout', '2000', '--cluster-port', String(p + CLUSTER_BUS_OFFSET)]),
    );
    for (const n of nodes) await redisPing(n.port, n.proc);
    execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `${HOST}:${p}`), '--cluster-replicas', '1', '--cluster-yes'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 60_000,
  });
  for (const p of ports) {
    await waitFor(async () => /cluster_state:ok/.test(await redisCmd<string>(p, 'CLUSTER', 'INFO')), 60_000, `cluster ok on ${p}`);
  }
  const set: RedisClusterSet = {
    dir,
    nodes,
    url: `redis-cluster://${ports.slice(0, 3).map((p) => `${HOST}:${p}`).join(',')}`,
    async masters() {
      for (const n of nodes) {
        if (n.proc.exitCode !== null || n.proc.signalCode !== null) continue;
        try {
          const slots = await redisCmd<Array<[number, number, [string, number]]>>(n.port, 'CLUSTER', 'SLOTS');
          const by = new Map<number, Array<[number, number]>>();
          for (const [a, b, [, port]] of slots) {
            if (!by.has(port)) by.set(port, []);
            by.get(port)!.push([a, b]);
          }
          return [...by].map(([port, s]) => ({ port, slots: s }));
        } catch {
          /* next node */
        }
      }
      throw new Error('no cluster node answers');
    },
    async stop() {
      await Promise.all(nodes.map((n) => stopProc(n.proc)));
      removeDir(dir);
    },
  };
  return set;
  });
}

// ---- RabbitMQ cluster -------------------------------------------------------------------------


export interface RabbitNode {
  name: string;
  port: number;
  /** Its Erlang distribution port. */
  distPort: number;
  proc?: ChildProcess;
  /** Stopped by stopNode(). */
  down?: boolean;
}

export interface RabbitCluster {
  dir: string;
  nodes: RabbitNode[];
  /** kombu's failover list: `amqp://guest:guest@127.0.0.1:5681//;amqp://...`. */
  url: string;
  ctl(node: RabbitNode, ...args: string[]): string;
  /** Stop one node (the Erlang VM: `rabbitmqctl stop`), as a crash of its host would. */
  stopNode(node: RabbitNode): Promise<void>;
  stop(): Promise<void>;
}

export async function startRabbitCluster(): Promise<RabbitCluster> {
  ensureCommand('rabbitmq-server', 'rabbitmq-server');
  const dir = engineDir('rabbit');
  const plugins = path.join(dir, 'enabled_plugins');
  // No management/prometheus plugins: their listeners would collide with the default node's.
  fs.writeFileSync(plugins, '[].\n');
  // AMQP and Erlang distribution ports picked free; node names of this run only (epmd is shared).
  const ports = await freePorts(3);
  // The CLI tools' own distribution ports are near dist port + 10000 (rabbitmq-env): keep that in range.
  const distPorts = await freePorts(3, 10_000);
  const run = randomBytes(3).toString('hex');
  const nodes: RabbitNode[] = ports.map((port, i) => ({ name: `sprigha${i + 1}-${run}@localhost`, port, distPort: distPorts[i]! }));
  const envOf = (n: RabbitNode): NodeJS.ProcessEnv => {
    const base = path.join(dir, n.name.split('@')[0]!);
    for (const d of ['mnesia', 'log']) fs.mkdirSync(path.join(base, d), { recursive: true });
    const conf = path.join(base, 'rabbitmq.conf');
    fs.writeFileSync(conf, [`listeners.tcp.default = ${HOST}:${n.port}`, 'loopback_users = none', ''].join('\n'));
    return {
      RABBITMQ_NODENAME: n.name,
      RABBITMQ_NODE_IP_ADDRESS: HOST,
      RABBITMQ_NODE_PORT: String(n.port),
      RABBITMQ_DIST_PORT: String(n.distPort),
      RABBITMQ_MNESIA_BASE: path.join(base, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(base, 'log'),
      RABBITMQ_PID_FILE: path.join(base, 'pid'),
      RABBITMQ_CONFIG_FILE: conf,
      RABBITMQ_ADVANCED_CONFIG_FILE: path.join(base, 'advanced.config'),
      RABBITMQ_ENABLED_PLUGINS_FILE: plugins,
      RABBITMQ_ENABLED_PLUGINS: '',
    };
  };
  const ctl = (n: RabbitNode, ...args: string[]) =>
    execFileSync('rabbitmqctl', ['-n', n.name, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  const envs = nodes.map(envOf);
  // As root, Debian's rabbitmq-server (and rabbitmqctl) run as the rabbitmq user (with its Erlang
  // cookie, as the default node does): our dirs must be theirs.
  if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'rabbitmq:rabbitmq', dir]);
  // The Erlang VM is a grandchild (rabbitmq-server su's to rabbitmq): stop it by name, then by its pid file.
  const pidOf = (n: RabbitNode) => Number(fs.readFileSync(path.join(String(envs[nodes.indexOf(n)]!.RABBITMQ_PID_FILE)), 'utf8').trim()) || 0;
  const killVm = (n: RabbitNode) => {
    try {
      process.kill(pidOf(n), 'SIGKILL');
    } catch {
      /* gone, or never started */
    }
  };
  const stopVms = () => {
    for (const n of nodes) {
      if (n.down) continue;
      spawnSync('rabbitmqctl', ['-n', n.name, 'stop'], { stdio: 'ignore', timeout: 30_000 });
      killVm(n);
      n.down = true;
    }
  };
  cleanups.add(stopVms);
  await starting(dir, async () => {
    nodes.forEach((n, i) => {
      n.proc = spawnTracked(dir, 'rabbitmq-server', [], path.join(dir, `${n.name.split('@')[0]}.out`), envs[i]);
  });
  // await_startup needs a node that answers at all: on a busy machine the VM takes a while to register.
  for (const n of nodes) {
    await waitFor(() => spawnSync('rabbitmqctl', ['-n', n.name, 'ping'], { stdio: 'ignore', timeout: 30_000 }).status === 0, 180_000, `${n.name} answers`);
    ctl(n, 'await_startup', '--timeout', '180');
    recordPid(dir, pidOf(n));
  }
  for (const n of nodes.slice(1)) {
    ctl(n, 'stop_app');
    ctl(n, 'join_cluster', nodes[0]!.name);
    ctl(n, 'start_app');
    ctl(n, 'await_startup', '--timeout', '120');
  }
  }, stopVms);
  const cluster: RabbitCluster = {
    dir,
    nodes,
    url: nodes.map((n) => `amqp://guest:guest@${HOST}:${n.port}//`).join(';'),
    ctl,
    async stopNode(n) {
      n.down = true;
      try {
        ctl(n, 'stop');
      } catch {
        /* already down */
      }
      killVm(n);
      if (n.proc && n.proc.exitCode === null) await stopProc(n.proc);
    },
    async stop() {
      for (const n of nodes) await cluster.stopNode(n);
      removeDir(dir);
    },
  };
  return cluster;
}

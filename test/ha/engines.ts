/**
 * The HA test engines, started from Debian's packages on loopback, each under a temp dir of its own,
 * and stopped after (also on failure and on exit): a Redis master + 2 replicas + 3 sentinels, a
 * 6-node Redis Cluster (3 masters, 3 replicas), and 3 RabbitMQ nodes joined into a cluster. The
 * shared Redis on 6379 and RabbitMQ on 5672 are never touched.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
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

function spawnTracked(cmd: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): ChildProcess {
  const log = fs.openSync(logFile, 'a');
  const p = spawn(cmd, args, { stdio: ['ignore', log, log], env: env ? { ...process.env, ...env } : process.env });
  fs.closeSync(log);
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

export async function redisPing(port: number, timeoutMs = 20_000): Promise<void> {
  const probe = new Redis(port, HOST, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  try {
    await waitFor(async () => {
      try {
        if (probe.status !== 'ready') await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        probe.disconnect();
        return false;
      }
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
  const proc = spawnTracked('redis-server', ['--bind', HOST, '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', d, '--protected-mode', 'no', ...extra], path.join(d, 'log'));
  return { port, proc, kill9: () => proc.kill('SIGKILL') };
}

// ---- Redis Sentinel ---------------------------------------------------------------------------

export const MASTER_NAME = 'sprigha';
export const SENTINEL_PORTS = [26380, 26381, 26382];
export const SENTINEL_DATA_PORTS = [7100, 7101, 7102];

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
  const dir = tmpDir('sprig-ha-sentinel-');
  return starting(dir, async () => {
    const [m, ...rs] = SENTINEL_DATA_PORTS;
    const nodes = [redisServer(dir, m!, [])];
    await redisPing(m!);
    for (const p of rs) nodes.push(redisServer(dir, p, ['--replicaof', HOST, String(m)]));
    for (const p of rs) await redisPing(p);
    // Attached is not enough: a replica still in its first full sync holds nothing yet, and a failover
    // that promotes it loses the data set (seen once: the early-kill run's new master had no queue).
    await waitFor(async () => (await redisCmd<string>(m!, 'INFO', 'replication')).match(/state=online/g)?.length === 2, 30_000, 'both replicas attached and synced');
    const sentinels = SENTINEL_PORTS.map((port) => {
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
      return spawnTracked(cmd!, cmd === 'redis-server' ? [conf, '--sentinel'] : [conf], path.join(dir, `sentinel-${port}.log`));
  });
  for (const p of SENTINEL_PORTS) await redisPing(p);
  // Every sentinel knows the other two and both replicas before a test relies on a failover.
  for (const p of SENTINEL_PORTS) {
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
    url: SENTINEL_PORTS.map((p) => `sentinel://${HOST}:${p}`).join(';'),
    async masterPort() {
      for (const p of SENTINEL_PORTS) {
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

export const CLUSTER_PORTS = [7001, 7002, 7003, 7004, 7005, 7006];

export interface RedisClusterSet {
  dir: string;
  nodes: RedisNode[];
  url: string;
  /** master port -> its slot ranges, as CLUSTER SHARDS / SLOTS says now. */
  masters(): Promise<Array<{ port: number; slots: Array<[number, number]> }>>;
  stop(): Promise<void>;
}

export async function startRedisCluster(): Promise<RedisClusterSet> {
  ensureCommand('redis-server', 'redis-server');
  ensureCommand('redis-cli', 'redis-tools');
  const dir = tmpDir('sprig-ha-cluster-');
  return starting(dir, async () => {
    const nodes = CLUSTER_PORTS.map((p) =>
      redisServer(dir, p, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${p}.conf`, '--cluster-node-timeout', '2000']),
    );
    for (const p of CLUSTER_PORTS) await redisPing(p);
    execFileSync('redis-cli', ['--cluster', 'create', ...CLUSTER_PORTS.map((p) => `${HOST}:${p}`), '--cluster-replicas', '1', '--cluster-yes'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 60_000,
  });
  for (const p of CLUSTER_PORTS) {
    await waitFor(async () => /cluster_state:ok/.test(await redisCmd<string>(p, 'CLUSTER', 'INFO')), 60_000, `cluster ok on ${p}`);
  }
  const set: RedisClusterSet = {
    dir,
    nodes,
    url: `redis-cluster://${CLUSTER_PORTS.slice(0, 3).map((p) => `${HOST}:${p}`).join(',')}`,
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

export const RABBIT_PORTS = [5681, 5682, 5683];

export interface RabbitNode {
  name: string;
  port: number;
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
  const dir = tmpDir('sprig-ha-rabbit-');
  const plugins = path.join(dir, 'enabled_plugins');
  // No management/prometheus plugins: their listeners would collide with the default node's.
  fs.writeFileSync(plugins, '[].\n');
  const nodes: RabbitNode[] = RABBIT_PORTS.map((port, i) => ({ name: `sprigha${i + 1}@localhost`, port }));
  const envOf = (n: RabbitNode, i: number): NodeJS.ProcessEnv => {
    const base = path.join(dir, n.name.split('@')[0]!);
    for (const d of ['mnesia', 'log']) fs.mkdirSync(path.join(base, d), { recursive: true });
    const conf = path.join(base, 'rabbitmq.conf');
    fs.writeFileSync(conf, [`listeners.tcp.default = ${HOST}:${n.port}`, 'loopback_users = none', ''].join('\n'));
    return {
      RABBITMQ_NODENAME: n.name,
      RABBITMQ_NODE_IP_ADDRESS: HOST,
      RABBITMQ_NODE_PORT: String(n.port),
      RABBITMQ_DIST_PORT: String(25681 + i),
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
  const envs = nodes.map((n, i) => envOf(n, i));
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
      n.proc = spawnTracked('rabbitmq-server', [], path.join(dir, `${n.name.split('@')[0]}.out`), envs[i]);
  });
  // await_startup needs a node that answers at all: on a busy machine the VM takes a while to register.
  for (const n of nodes) {
    await waitFor(() => spawnSync('rabbitmqctl', ['-n', n.name, 'ping'], { stdio: 'ignore', timeout: 30_000 }).status === 0, 180_000, `${n.name} answers`);
    ctl(n, 'await_startup', '--timeout', '180');
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

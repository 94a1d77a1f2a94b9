// PostgreSQL peer workers for `npm run bench -- --only postgres`, each its own process (plain Node):
//   node bench/pg-peer-worker.mjs graphile <connection string> <schema> <concurrency>
//   node bench/pg-peer-worker.mjs pgboss <connection string> <schema> <queue> <batch size>
// Both run no-op jobs.
const [kind, connectionString, schema, a, b] = process.argv.slice(2);
let stop = async () => undefined;
if (kind === 'graphile') {
  const { run } = await import('graphile-worker');
  const runner = await run({ connectionString, schema, concurrency: Number(a ?? 10), maxPoolSize: Number(a ?? 10) + 1, noHandleSignals: true, pollInterval: 2000, taskList: { 'bench.noop': async () => undefined } });
  stop = () => runner.stop();
} else if (kind === 'pgboss') {
  const { default: PgBoss } = await import('pg-boss');
  const boss = new PgBoss({ connectionString, schema });
  boss.on('error', (err) => process.stderr.write(`pg-boss error: ${err.message}\n`));
  await boss.start();
  await boss.createQueue(a);
  await boss.work(a, { batchSize: Number(b ?? 50), pollingIntervalSeconds: 0.5 }, async () => undefined);
  stop = () => boss.stop({ graceful: true, wait: true });
} else {
  process.stderr.write('usage: pg-peer-worker.mjs graphile|pgboss ...\n');
  process.exit(2);
}
let closing = false;
const onSignal = () => {
  if (closing) process.exit(1);
  closing = true;
  stop().then(() => process.exit(0), () => process.exit(1));
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

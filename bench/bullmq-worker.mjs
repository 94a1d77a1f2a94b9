// BullMQ peer worker for `npm run bench`, run as its own process (plain Node, no TS loader):
//   node bench/bullmq-worker.mjs <queue> <concurrency> <redis db>
// bench.noop jobs do nothing; bench.echo jobs return their data (the latency row).
import { Worker } from 'bullmq';

const [queue, concurrency = '50', db = '9'] = process.argv.slice(2);
if (!queue) {
  process.stderr.write('usage: bullmq-worker.mjs <queue> <concurrency> <db>\n');
  process.exit(2);
}
const worker = new Worker(queue, async (job) => (job.name === 'bench.echo' ? job.data.x : undefined), {
  connection: { host: '127.0.0.1', port: 6379, db: Number(db), maxRetriesPerRequest: null },
  concurrency: Number(concurrency),
});
worker.on('error', (err) => process.stderr.write(`bullmq worker error: ${err.message}\n`));
let closing = false;
const stop = () => {
  if (closing) process.exit(1);
  closing = true;
  worker.close().then(() => process.exit(0), () => process.exit(1));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

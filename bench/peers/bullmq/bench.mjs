// The BullMQ half of bench/peers: runs one workload on BullMQ against a
// redis-server and prints one JSON line with what it measured. The Go peers
// command (bench/peers/bullmq.go) runs it once per workload and batch size:
//
//	echo '{"redis":"redis://127.0.0.1:6390","workload":"cycle","batch":1,
//	  "tasks":20000,"payload":64,"producers":2,"workers":8,"samples":200,"prefix":"keyqpeers:bullmq"}' | node bench.mjs
//
// Workloads, as asynq's in bench/peers:
//   - enqueue: producers add tasks, one Queue.add a call (batch 1) or Queue.addBulk
//     of batch tasks; nobody consumes. p50/p99 are of one call.
//   - cycle: the same producers while a Worker with concurrency = workers runs a
//     processor that returns a small value; ends when every job completed.
//   - wakeup: a Worker (concurrency 1) waits on an empty queue; after a 2 ms idle
//     gap one job is added; the latency is from the add to the processor's start.
//   - memory: producers add tasks; the Go side measures used_memory around this run.
// Completed jobs are kept an hour (removeOnComplete: {age: 3600}), as asynq's
// Retention and keyq's answers; a failed job is not retried (attempts 1).
//
// Around the timed part it takes INFO commandstats and cpu (raw text, diffed by
// the Go side) and this process's CPU time (process.cpuUsage). With
// callgrindPid set it zeroes and dumps the callgrind counters of that
// redis-server around the timed part, as the Go systems do (cost/callgrind.sh).
// Errors go to stderr, exit 1. It leaves its keys for the Go side to measure
// and delete.
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

// The configuration comes as the first argument or, as the Go side sends it
// (the URL may hold a password), on stdin.
const cfg = JSON.parse(process.argv[2] ?? readFileSync(0, 'utf8'));
const version = createRequire(import.meta.url)('bullmq/package.json').version;
const queueName = 'keyqbench';

function connection(url) {
  const u = new URL(url);
  if (u.protocol !== 'redis:') throw new Error(`want a redis:// URL, got ${u.protocol}`);
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 6379),
    db: Number((u.pathname || '/0').slice(1) || 0),
    username: decodeURIComponent(u.username) || undefined,
    password: decodeURIComponent(u.password) || undefined,
    maxRetriesPerRequest: null,
  };
}

function payloads(n, size) {
  // As bench.Payloads: the index, padded with 'x' to size bytes.
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const id = String(i);
    out[i] = id.length >= size ? id.slice(0, size) : id + 'x'.repeat(size - id.length);
  }
  return out;
}

// handler is bench.Handler's answer: {"n":<payload length>}.
const handler = (payload) => `{"n":${payload.length}}`;

const jobOpts = { removeOnComplete: { age: 3600 }, attempts: 1 };

// produce splits tasks 0..n-1 among cfg.producers concurrent loops, each adding
// its share one add (batch 1) or one addBulk (batch > 1) at a time.
async function produce(queue, msgs, lats) {
  const shares = Array.from({ length: cfg.producers }, () => []);
  msgs.forEach((_, i) => shares[i % cfg.producers].push(i));
  await Promise.all(shares.map(async (share) => {
    for (let at = 0; at < share.length; at += cfg.batch) {
      const part = share.slice(at, at + cfg.batch);
      const start = performance.now();
      if (part.length === 1) {
        await queue.add('bench', msgs[part[0]], jobOpts);
      } else {
        await queue.addBulk(part.map((i) => ({ name: 'bench', data: msgs[i], opts: jobOpts })));
      }
      lats?.push(performance.now() - start);
    }
  }));
}

function percentiles(lats) {
  if (lats.length === 0) return [0, 0];
  const s = [...lats].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return [at(0.5), at(0.99)];
}

// window brackets the timed part: INFO and CPU before and after, and callgrind's
// counters zeroed and dumped when asked.
async function window(client, f) {
  const infoBefore = await client.call('info', 'commandstats', 'cpu');
  if (cfg.callgrindPid) execFileSync('callgrind_control', ['--zero', String(cfg.callgrindPid)], { stdio: 'ignore' });
  const cpu = process.cpuUsage();
  const start = performance.now();
  const extra = await f();
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  if (cfg.callgrindPid) execFileSync('callgrind_control', ['--dump', String(cfg.callgrindPid)], { stdio: 'ignore' });
  const infoAfter = await client.call('info', 'commandstats', 'cpu');
  return { seconds, client_cpu_s: (used.user + used.system) / 1e6, info_before: infoBefore, info_after: infoAfter, ...extra };
}

async function main() {
  const conn = connection(cfg.redis);
  const prefix = cfg.prefix || 'keyqpeers:bullmq';
  const queue = new Queue(queueName, { connection: conn, prefix });
  await queue.waitUntilReady();
  // A connection of its own for INFO, so that BullMQ's connections carry only its work.
  const client = new Redis({ ...conn, lazyConnect: true });
  await client.connect();
  const msgs = payloads(cfg.tasks, cfg.payload);
  let out;
  let worker;
  try {
    switch (cfg.workload) {
      case 'enqueue':
      case 'memory': {
        const lats = [];
        out = await window(client, async () => { await produce(queue, msgs, lats); });
        const counts = await queue.getJobCounts('wait');
        if (counts.wait !== cfg.tasks) throw new Error(`${counts.wait} jobs waiting after adding ${cfg.tasks}`);
        [out.p50_ms, out.p99_ms] = percentiles(lats);
        break;
      }
      case 'cycle': {
        let done = 0;
        let finish;
        const allDone = new Promise((resolve, reject) => { finish = { resolve, reject }; });
        worker = new Worker(queueName, async (job) => handler(job.data), { connection: conn, prefix, concurrency: cfg.workers });
        worker.on('completed', () => { if (++done === cfg.tasks) finish.resolve(); });
        worker.on('failed', (job, err) => finish.reject(new Error(`job ${job?.id} failed: ${err?.message}`)));
        worker.on('error', (err) => finish.reject(err));
        await worker.waitUntilReady();
        out = await window(client, async () => { await Promise.all([produce(queue, msgs, null), allDone]); });
        const counts = await queue.getJobCounts('completed');
        if (counts.completed !== cfg.tasks) throw new Error(`${counts.completed} jobs kept as completed of ${cfg.tasks}`);
        break;
      }
      case 'wakeup': {
        let got;
        worker = new Worker(queueName, async (job) => { got?.(performance.now()); return 'ok'; }, { connection: conn, prefix, concurrency: 1 });
        worker.on('error', (err) => { console.error(`bullmq worker: ${err.message}`); });
        await worker.waitUntilReady();
        const lats = [];
        out = await window(client, async () => {
          for (let i = 0; i < cfg.samples; i++) {
            await new Promise((r) => setTimeout(r, 2)); // the same idle gap as keyq's wakeup
            const delivered = new Promise((resolve, reject) => {
              got = resolve;
              setTimeout(() => reject(new Error('wakeup: no delivery within 10s')), 10000).unref();
            });
            const sent = performance.now();
            await queue.add('bench', `w${i}`, jobOpts);
            lats.push((await delivered) - sent);
          }
        });
        [out.p50_ms, out.p99_ms] = percentiles(lats);
        out.tasks = cfg.samples;
        break;
      }
      default:
        throw new Error(`unknown workload ${JSON.stringify(cfg.workload)}`);
    }
  } finally {
    await worker?.close();
    await queue.close();
    client.disconnect();
  }
  out.workload = cfg.workload;
  out.batch = cfg.batch;
  out.tasks ??= cfg.tasks;
  out.version = version;
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  console.error(`bullmq bench: ${err?.stack ?? err}`);
  process.exit(1);
});

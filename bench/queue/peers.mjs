// peers.mjs: the bench/queue workload on the peers (groupmq, bullmq): N jobs
// of ~200 bytes over G groups, enqueued in batches, then processed with a
// no-op handler at the given concurrency. Prints one JSON line like
// queue_bench.c. Usage: node peers.mjs groupmq|bullmq URL [jobs] [groups] [concurrency]
import Redis from 'ioredis';

const [peer, url, jobsArg, groupsArg, concArg] = process.argv.slice(2);
const JOBS = Number(jobsArg || 100000), GROUPS = Number(groupsArg || 1000);
const CONC = Number(concArg || 16);
const BATCH = 1000;

async function redisCpu(redis) {
  const info = await redis.info('cpu');
  const get = (k) => Number((info.match(new RegExp(k + ':([0-9.]+)')) || [0, 0])[1]);
  return get('used_cpu_sys') + get('used_cpu_user');
}

function payload(i) {
  const head = `{"seq":${i},"pad":"`;
  return { seq: i, pad: 'x'.repeat(198 - head.length) };
}

async function runGroupmq(redis) {
  const { Queue, Worker } = await import('groupmq');
  const queue = new Queue({ redis, namespace: `bench-${process.pid}`, keepCompleted: 0 });
  const t0 = Date.now(), c0 = await redisCpu(redis);
  for (let i = 0; i < JOBS; i += BATCH) {
    const adds = [];
    for (let k = i; k < Math.min(JOBS, i + BATCH); k++)
      adds.push(queue.add({ groupId: `g${k % GROUPS}`, data: payload(k), orderMs: k }));
    await Promise.all(adds);
  }
  const t1 = Date.now(), c1 = await redisCpu(redis);
  const last = new Map();
  let done = 0, disorder = 0, finish;
  const finished = new Promise((r) => { finish = r; });
  const worker = new Worker({
    queue, concurrency: CONC, blockingTimeoutSec: 1,
    handler: async (job) => {
      const g = job.groupId, seq = job.data.seq;
      if (last.has(g) && seq < last.get(g)) disorder++;
      last.set(g, seq);
      if (++done === JOBS) finish();
    },
  });
  worker.run();
  await finished;
  const t2 = Date.now(), c2 = await redisCpu(redis);
  await worker.close(0).catch(() => {});
  await queue.close?.().catch(() => {});
  return { t0, t1, t2, c0, c1, c2, ordered: disorder === 0 };
}

async function runBullmq(redis) {
  const { Queue, Worker } = await import('bullmq');
  const name = `bench-${process.pid}`;
  const connection = { host: redis.options.host, port: redis.options.port };
  const queue = new Queue(name, { connection });
  const t0 = Date.now(), c0 = await redisCpu(redis);
  for (let i = 0; i < JOBS; i += BATCH) {
    const bulk = [];
    for (let k = i; k < Math.min(JOBS, i + BATCH); k++)
      bulk.push({ name: `g${k % GROUPS}`, data: payload(k),
                  opts: { removeOnComplete: true, removeOnFail: true } });
    await queue.addBulk(bulk);
  }
  const t1 = Date.now(), c1 = await redisCpu(redis);
  let done = 0, finish;
  const finished = new Promise((r) => { finish = r; });
  const worker = new Worker(name, async () => {}, { connection, concurrency: CONC });
  worker.on('completed', () => { if (++done === JOBS) finish(); });
  await finished;
  const t2 = Date.now(), c2 = await redisCpu(redis);
  await worker.close();
  await queue.close();
  return { t0, t1, t2, c0, c1, c2, ordered: false };
}

const redis = new Redis(url, { maxRetriesPerRequest: null });
const r = peer === 'groupmq' ? await runGroupmq(redis) : await runBullmq(redis);
const per100k = 100000 / JOBS;
console.log(JSON.stringify({
  peer, jobs: JOBS, groups: GROUPS, concurrency: CONC,
  enqueue_jobs_s: Math.round(JOBS / ((r.t1 - r.t0) / 1000)),
  process_jobs_s: Math.round(JOBS / ((r.t2 - r.t1) / 1000)),
  ordered: r.ordered,
  redis_cpu_enqueue_s: +((r.c1 - r.c0) * per100k).toFixed(3),
  redis_cpu_process_s: +((r.c2 - r.c1) * per100k).toFixed(3),
  redis_cpu_per_100k_s: +((r.c2 - r.c0) * per100k).toFixed(3),
}));
redis.disconnect();
process.exit(0);

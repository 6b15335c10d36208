/**
 * History ingest through W&B's file_stream (the client's own batching format) vs the REST batch
 * endpoint: same server process, same database, same rows, same batch size, in the same run.
 *
 *   npx tsx bench/wandb.ts [--rows 50000] [--batch 1000] [--metrics 10] [--concurrency 1]
 *                          [--rounds 2] [--database-url postgres://…]
 *
 * Each path logs `rows` history rows into fresh runs (`concurrency` runs in parallel, each its
 * share of the rows), `batch` rows per request. Bodies are built before the clock starts: this
 * measures the server. The order is A B A B … after a warm-up, and each figure is the total over all
 * rounds. file_stream requests look exactly like @wandb/sdk's: history lines as JSON strings with
 * `_step`, `_runtime`, `_timestamp`, plus the whole summary, under Basic `api:<key>` auth.
 */
import { parseArgs } from 'node:util';
import { startBenchServer } from './lib.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '50000' },
    batch: { type: 'string', default: '1000' },
    metrics: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '2' },
    'database-url': { type: 'string', default: process.env.TRIPLINE_DATABASE_URL ?? '' },
  },
});
const ROWS = Number(args.rows);
const BATCH = Number(args.batch);
const METRICS = Number(args.metrics);
const CONCURRENCY = Number(args.concurrency);
const ROUNDS = Number(args.rounds);

function makeRows(from: number, n: number, t0: number) {
  return Array.from({ length: n }, (_, i) => {
    const step = from + i;
    const row: Record<string, number> = { _step: step, _runtime: step / 10, _timestamp: t0 + step / 10 };
    for (let m = 0; m < METRICS; m++) row[`metric_${m}`] = Math.sin(step / (m + 1)) + m;
    return row;
  });
}

type Request = { path: string; body: string };

/** One run's requests for one path, bodies serialised up front. */
function requestsFor(kind: 'rest' | 'file_stream', run: string, rows: number): Request[] {
  const reqs: Request[] = [];
  const t0 = Date.now() / 1000;
  let summary: Record<string, number> = {};
  for (let from = 0; from < rows; from += BATCH) {
    const batch = makeRows(from, Math.min(BATCH, rows - from), t0);
    if (kind === 'rest') {
      reqs.push({
        path: `/api/v1/teams/admin/projects/bench/runs/${run}/history`,
        body: JSON.stringify({ rows: batch }),
      });
    } else {
      // @wandb/sdk's sendRecords(): history lines + the accumulated summary, offset = first line.
      for (const r of batch) summary = { ...summary, ...r };
      reqs.push({
        path: `/files/admin/bench/${run}/file_stream`,
        body: JSON.stringify({
          files: {
            'wandb-history.jsonl': { offset: from, content: batch.map((r) => JSON.stringify(r)) },
            'wandb-summary.json': { offset: 0, content: [JSON.stringify(summary)] },
          },
        }),
      });
    }
  }
  return reqs;
}

async function main() {
  const server = await startBenchServer({ databaseUrl: args['database-url'] || undefined });
  const bearer = `Bearer ${server.apiKey}`;
  const basic = `Basic ${Buffer.from(`api:${server.apiKey}`).toString('base64')}`;
  const call = async (path: string, body: string, auth: string) => {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${text.slice(0, 300)}`);
    return text;
  };
  let runNo = 0;
  const prefix = Math.random().toString(36).slice(2, 8);
  const newRun = async (kind: 'rest' | 'file_stream') => {
    const name = `${kind === 'rest' ? 'rest' : 'fs'}-${prefix}-${runNo++}`;
    if (kind === 'rest') {
      await call('/api/v1/teams/admin/projects/bench/runs', JSON.stringify({ id: name }), bearer);
    } else {
      // The SDK's UpsertBucket, as @wandb/sdk sends it (the project exists by now).
      const query =
        'mutation UpsertBucket($name: String, $project: String, $entity: String) { upsertBucket(input: {name: $name, modelName: $project, entityName: $entity}) { bucket { id name } inserted } }';
      await call(
        '/graphql',
        JSON.stringify({ query, variables: { name, project: 'bench', entity: 'admin' } }),
        basic,
      );
    }
    return name;
  };

  /** Logs `rows` rows through one path; returns seconds on the clock. */
  const measure = async (kind: 'rest' | 'file_stream', rows: number) => {
    const perRun = Math.ceil(rows / CONCURRENCY);
    const runs = await Promise.all(Array.from({ length: CONCURRENCY }, () => newRun(kind)));
    const work = runs.map((run) => requestsFor(kind, run, perRun));
    const auth = kind === 'rest' ? bearer : basic;
    const t = performance.now();
    await Promise.all(
      work.map(async (reqs) => {
        for (const r of reqs) await call(r.path, r.body, auth);
      }),
    );
    return { seconds: (performance.now() - t) / 1000, rows: perRun * CONCURRENCY };
  };

  try {
    // The project may exist when --database-url points at a database used before.
    await call('/api/v1/teams/admin/projects', JSON.stringify({ name: 'bench' }), bearer).catch(
      (err: Error) => {
        if (!/: 409 /.test(err.message)) throw err;
      },
    );
    const warm = Math.min(ROWS, 5 * BATCH);
    await measure('rest', warm);
    await measure('file_stream', warm);
    const total = { rest: { seconds: 0, rows: 0 }, file_stream: { seconds: 0, rows: 0 } };
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of ['rest', 'file_stream'] as const) {
        const m = await measure(kind, ROWS);
        total[kind].seconds += m.seconds;
        total[kind].rows += m.rows;
      }
    }
    const rate = (k: keyof typeof total) => total[k].rows / total[k].seconds;
    const result = {
      database: args['database-url'] ? 'postgres' : 'sqlite',
      rowsPerRound: ROWS,
      rounds: ROUNDS,
      batch: BATCH,
      metricsPerRow: METRICS,
      concurrency: CONCURRENCY,
      restRowsPerSecond: Math.round(rate('rest')),
      fileStreamRowsPerSecond: Math.round(rate('file_stream')),
      ratioFileStreamToRest: Number((rate('file_stream') / rate('rest')).toFixed(3)),
    };
    console.log(
      `history ingest on ${result.database}, ${ROWS} rows x${ROUNDS} rounds, ${BATCH}/request, ${METRICS} metrics/row, ` +
        `${CONCURRENCY} run(s) in parallel`,
    );
    console.log(`  REST batch endpoint : ${result.restRowsPerSecond.toLocaleString('en')} rows/s`);
    console.log(`  W&B file_stream     : ${result.fileStreamRowsPerSecond.toLocaleString('en')} rows/s`);
    console.log(`  file_stream / REST  : ${result.ratioFileStreamToRest}`);
    console.log(JSON.stringify(result));
  } finally {
    await server.stop();
  }
}

await main();

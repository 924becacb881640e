import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, ClientConfig } from 'pg';
import { connect, withClient } from '../../local/pg';
import { ConcurrentRefresh, RefreshEnv } from '../../src/shared/contract';
import { BenchContext } from '../context';
import { createFactTable, FACT_TABLE } from '../dag-schema';
import { successfulReports } from '../handler-process';
import { max, percentile, round, SeededRandom } from '../stats';

/**
 * Section 2: are readers of a large materialized view blocked while it refreshes? A reader loop
 * looks rows up by key, one query at a time, while the engine refreshes the view: once with its
 * default (CONCURRENTLY, the view has a unique index) and once with a plain REFRESH. Then a plain
 * REFRESH that has to wait for a long reader: how long do the loop's reads wait meanwhile?
 */
export interface ReadersSettings {
  readonly seed: number;
  /** Rows in the large view. */
  readonly rows: number;
  /** Reads before and after the refresh, so the loop is running when it starts and ends. */
  readonly marginMs: number;
}

export interface ReaderRun {
  readonly mode: string;
  readonly concurrentRefresh: ConcurrentRefresh;
  /** As the engine's report says. */
  readonly concurrently: boolean;
  readonly refreshMs: number;
  /** Reads that overlapped the refresh run. */
  readonly reads: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly readsOver100Ms: number;
}

/** A plain REFRESH waiting for a long reader to end, and the reads made meanwhile. */
export interface QueuedRefreshRun {
  /** How long the long reader held the view after the refresh started. */
  readonly holdMs: number;
  /** Reads that started and ended while the refresh waited. */
  readonly reads: number;
  readonly p50Ms: number;
  /** The longest of those reads. */
  readonly maxMs: number;
  /** Reads that took over {@link HELD_UP_MS}: held up by a lock, not just slow on a busy machine. */
  readonly heldUp: number;
  /** The time of those reads, summed: what readers waited in all. */
  readonly heldUpMs: number;
  /** The refresh, as the engine's report says, waiting included. */
  readonly refreshMs: number;
}

export interface ReadersResult {
  readonly rows: number;
  readonly runs: ReaderRun[];
  readonly queued?: QueuedRefreshRun;
}

/** How long the long reader holds the view after the plain REFRESH starts. */
const QUEUED_HOLD_MS = 3_000;
/** A read longer than this was held up by a lock; an unhindered key lookup takes well under 1 ms. */
export const HELD_UP_MS = 20;

const VIEW = 'readers.large_view';
const BLOCKED_MS = 100;

export async function benchmarkReaders(context: BenchContext, settings: ReadersSettings): Promise<ReadersResult> {
  const database = await context.server.createDatabase('bench_readers');
  await withClient(database, async (client) => {
    context.log(`readers: creating ${VIEW} with ${settings.rows.toLocaleString('en-US')} rows`);
    await createFactTable(client, settings.rows);
    await client.query('CREATE SCHEMA readers');
    await client.query(`CREATE MATERIALIZED VIEW ${VIEW} AS SELECT id, k, v, md5(id::text) AS tag FROM ${FACT_TABLE}`);
    await client.query(`CREATE UNIQUE INDEX large_view_id ON ${VIEW} (id)`);
    await client.query(`ANALYZE ${VIEW}`);
    await client.query('CHECKPOINT');
  });

  const modes = [
    { mode: 'engine default (CONCURRENTLY)', concurrentRefresh: ConcurrentRefresh.AUTO },
    { mode: 'plain REFRESH', concurrentRefresh: ConcurrentRefresh.NEVER },
  ];
  const runs: ReaderRun[] = [];
  for (const { mode, concurrentRefresh } of modes) {
    const reader = new ReaderLoop(await connect(database), settings.rows, settings.seed);
    try {
      reader.start();
      await sleep(settings.marginMs);
      const windowStart = performance.now();
      const result = await context.handlers.run({
        bundle: context.bundle,
        database,
        settings: { [RefreshEnv.VIEWS]: JSON.stringify([VIEW]), [RefreshEnv.CONCURRENT_REFRESH]: concurrentRefresh },
      });
      const windowEnd = performance.now();
      await sleep(settings.marginMs);
      const reads = (await reader.stop()).filter((read) => read.endedAt >= windowStart && read.startedAt <= windowEnd);
      const [report] = successfulReports(result, `readers, ${mode}`);
      const latencies = reads.map((read) => read.endedAt - read.startedAt);
      if (latencies.length === 0) {
        throw new Error(`readers, ${mode}: no read overlapped the refresh`);
      }
      runs.push({
        mode,
        concurrentRefresh,
        concurrently: report.views[0].concurrently,
        refreshMs: round(report.views[0].durationMs),
        reads: latencies.length,
        p50Ms: round(percentile(latencies, 50), 2),
        p99Ms: round(percentile(latencies, 99), 2),
        maxMs: round(max(latencies), 2),
        readsOver100Ms: latencies.filter((latency) => latency > BLOCKED_MS).length,
      });
      context.log(`readers: ${mode}: refresh ${report.views[0].durationMs.toFixed(0)} ms, max read ${max(latencies).toFixed(1)} ms`);
    } finally {
      await reader.stop();
    }
  }
  const queued = await measureQueuedRefresh(context, database, settings);
  return { rows: settings.rows, runs, queued };
}

async function measureQueuedRefresh(context: BenchContext, database: ClientConfig, settings: ReadersSettings): Promise<QueuedRefreshRun> {
  const longReader = await connect(database);
  const reader = new ReaderLoop(await connect(database), settings.rows, settings.seed);
  try {
    await longReader.query('BEGIN');
    await longReader.query(`SELECT tag FROM ${VIEW} WHERE id = 1`);
    reader.start();
    await sleep(settings.marginMs);
    const windowStart = performance.now();
    const running = context.handlers.run({
      bundle: context.bundle,
      database,
      settings: {
        [RefreshEnv.VIEWS]: JSON.stringify([VIEW]),
        [RefreshEnv.CONCURRENT_REFRESH]: ConcurrentRefresh.NEVER,
        [RefreshEnv.LOCK_TIMEOUT_MS]: String(QUEUED_HOLD_MS * 10),
      },
    });
    await sleep(QUEUED_HOLD_MS);
    const releasedAt = performance.now();
    await longReader.query('COMMIT');
    const [report] = successfulReports(await running, 'readers, plain REFRESH behind a long reader');
    await sleep(settings.marginMs);
    const latencies = (await reader.stop())
      .filter((read) => read.startedAt >= windowStart && read.endedAt <= releasedAt)
      .map((read) => read.endedAt - read.startedAt);
    if (latencies.length === 0) {
      throw new Error('readers, plain REFRESH behind a long reader: no read was made while the refresh waited');
    }
    const heldUp = latencies.filter((latency) => latency > HELD_UP_MS);
    const result: QueuedRefreshRun = {
      holdMs: QUEUED_HOLD_MS,
      reads: latencies.length,
      p50Ms: round(percentile(latencies, 50), 2),
      maxMs: round(max(latencies), 2),
      heldUp: heldUp.length,
      heldUpMs: round(heldUp.reduce((sum, latency) => sum + latency, 0), 1),
      refreshMs: round(report.views[0].durationMs),
    };
    context.log(`readers: plain REFRESH behind a long reader: longest read ${result.maxMs} ms, ${result.heldUp} reads held up, ${result.heldUpMs} ms in all`);
    return result;
  } finally {
    await reader.stop();
    await longReader.end().catch(() => undefined);
  }
}

interface Read {
  readonly startedAt: number;
  readonly endedAt: number;
}

/** Looks up random keys in the view, one query at a time, recording when each read started and ended. */
class ReaderLoop {
  private readonly random: SeededRandom;
  private readonly reads: Read[] = [];
  private running?: Promise<void>;
  private stopping = false;
  private closed = false;

  constructor(private readonly client: Client, private readonly rows: number, seed: number) {
    this.random = new SeededRandom(seed);
  }

  start(): void {
    this.running = this.loop();
  }

  /** Stops the loop, closes its connection and returns the reads. Safe to call twice. */
  async stop(): Promise<Read[]> {
    this.stopping = true;
    const running = this.running;
    this.running = undefined;
    try {
      await running;
    } finally {
      if (!this.closed) {
        this.closed = true;
        await this.client.end().catch(() => undefined);
      }
    }
    return this.reads;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const startedAt = performance.now();
      await this.client.query({
        name: 'bench-read',
        text: `SELECT tag FROM ${VIEW} WHERE id = $1`,
        values: [this.random.int(1, this.rows)],
      });
      this.reads.push({ startedAt, endedAt: performance.now() });
    }
  }
}

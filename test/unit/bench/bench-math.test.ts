import { criticalPathMs, Dag, generateDag, totalWorkMs } from '../../../bench/dag-schema';
import { parseOptions } from '../../../bench/options';
import { BenchResults, evaluateGoals } from '../../../bench/report';
import { downstreamOf } from '../../../bench/sections/changed-tables';
import { max, median, percentile } from '../../../bench/stats';

/**
 * The arithmetic behind the published benchmark numbers: the DAG the wall-time section refreshes, the
 * lower bound it compares against, the read-latency statistics and the goal checks.
 */
describe('benchmark arithmetic', () => {
  test('the generated DAG has at least 24 views in chains and fan-ins, each after its parents, one through a plain view', () => {
    const dag = generateDag('dag24', 24, { seed: 1, minRows: 10, maxRows: 20 });

    expect(dag.views).toHaveLength(24);
    expect(dag.chains).toBeGreaterThanOrEqual(3);
    expect(dag.views.filter((view) => view.parents.length >= 2).length).toBeGreaterThanOrEqual(2);
    dag.views.forEach((view, index) => {
      for (const parent of view.parents) {
        expect(dag.views.findIndex((other) => other.name === parent)).toBeLessThan(index);
      }
    });
    expect(dag.views.filter((view) => view.throughPlainView)).toHaveLength(1);
    // Seeded: the same schema on every run.
    expect(generateDag('dag24', 24, { seed: 1, minRows: 10, maxRows: 20 })).toEqual(dag);
  });

  test('the critical path is the slowest chain of dependent refreshes; total work is their sum', () => {
    // a(100) -> b(50) -> d(10), c(200) -> d: the longest chain is c, d.
    const dag: Dag = {
      schema: 's',
      chains: 2,
      fanIn: 1,
      views: [
        { name: 'a', parents: [], rows: 1, throughPlainView: false },
        { name: 'b', parents: ['a'], rows: 1, throughPlainView: false },
        { name: 'c', parents: [], rows: 1, throughPlainView: false },
        { name: 'd', parents: ['b', 'c'], rows: 1, throughPlainView: false },
      ],
    };
    const durations = new Map([['a', 100], ['b', 50], ['c', 200], ['d', 10]]);

    expect(criticalPathMs(dag, durations)).toBe(210);
    expect(totalWorkMs(dag, durations)).toBe(360);
    expect(() => criticalPathMs(dag, new Map([['a', 1]]))).toThrow(/No measured refresh time for b/);
  });

  test('percentiles use the nearest rank; the median of an even count is the mean of the middle two', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(samples, 99)).toBe(99);
    expect(percentile(samples, 100)).toBe(100);
    expect(percentile([5], 99)).toBe(5);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(max(Array.from({ length: 200_000 }, (_, i) => i))).toBe(199_999);
  });

  test('goals are met exactly at their thresholds and missed beyond them', () => {
    const engine = (concurrency: number, speedUp: number, boundRatio: number) =>
      ({ concurrency, speedUp, boundRatio, wallMs: 1, runsMs: [1], boundMs: 1 });
    const results = {
      wallTime: { dags: [{ views: 24, engine: [engine(1, 1, 1), engine(2, 1.6, 1.2), engine(4, 1.59, 1.21)] }] },
      readers: {
        rows: 1,
        runs: [
          { mode: 'default', concurrently: true, refreshMs: 1000, maxMs: 100 },
          { mode: 'plain', concurrently: false, refreshMs: 999, maxMs: 900 },
        ],
      },
      overhead: { views: 200, overheadPerViewMs: 5.01 },
      scale: {
        views: 3000,
        planningMs: 999,
        engineCpuPerViewMs: 2,
        overheadPerViewMs: 2.01,
        reportBytes: 128 * 1024 + 1,
        viewsOutOfTimeMs: 100,
        peakMemoryMiB: 513,
      },
    } as unknown as Omit<BenchResults, 'goals'>;

    const met = Object.fromEntries(evaluateGoals(results).map((goal) => [goal.goal, goal.met]));

    expect(met).toEqual({
      'Speed-up over sequential REFRESH, 24 views, concurrency 2': true,
      'Wall time / lower bound, 24 views, concurrency 2': true,
      'Speed-up over sequential REFRESH, 24 views, concurrency 4': false,
      'Wall time / lower bound, 24 views, concurrency 4': false,
      'Refresh under the reader loop lasts long enough, default': true,
      'Refresh under the reader loop lasts long enough, plain': false,
      'Longest read during a refresh with the engine default (CONCURRENTLY)': true,
      'Engine overhead per view, 200 trivial views': false,
      'Planning, 3000 views': true,
      'Engine CPU per view, 3000 views': true,
      'Engine overhead per view (wall), 3000 views': false,
      'Report size, 3000 views': false,
      'viewsOutOfTime, 3000 views, every view out of time': true,
      'Peak memory, 3000 views': false,
    });
  });

  test('options parse, and a bad one is named with its value', () => {
    expect(parseOptions(['--quick', '--views=30', '--sections', 'readers,handler'])).toEqual({
      quick: true, views: 30, sections: ['readers', 'handler'], help: false,
    });
    expect(() => parseOptions(['--views', '3'])).toThrow('--views must be a whole number from 6 to 400, got "3"');
    expect(() => parseOptions(['--sections', 'readers,speed'])).toThrow('--sections: unknown section "speed"');
    expect(() => parseOptions(['--fast'])).toThrow('Unknown option "--fast"');
  });
});

describe('changed tables', () => {
  test('the views after a change are the view and everything reading it, directly or transitively', () => {
    const dag = generateDag('d', 24, { seed: 1, minRows: 1, maxRows: 2 });
    const downstream = downstreamOf(dag, 'd.chain1_step1');
    // Chain 1's five steps, the fan-in over chains 1 and 2, and the summary over every fan-in.
    expect([...downstream].sort()).toEqual(['d.chain1_step1', 'd.chain1_step2', 'd.chain1_step3', 'd.chain1_step4', 'd.chain1_step5', 'd.fanin1', 'd.summary']);
    expect([...downstreamOf(dag, 'd.summary')]).toEqual(['d.summary']);
  });
});

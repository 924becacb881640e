import type { Baseline } from '../../../src/engine/baselines';
import type { ChangeSignals, SourceSignal, StatsEpoch } from '../../../src/engine/change-signals';
import { detectChanges, epochChange, knownDefinitions, nameDecisions, sourcesToName, withProvenUnchanged } from '../../../src/engine/detection';

const EPOCH: StatsEpoch = { system: '7', started: '2026-12-01 10:00:00+00', databaseReset: null, sharedReset: '2026-12-01 10:00:00+00' };

/** mv1 reads t1 (r1); mv12 (oid 20) reads mv1 (oid 10) and t2 (r2). */
function signals(overrides: Partial<ChangeSignals> = {}, t1 = 'w:5,f:1', t2 = 'w:5,f:2'): ChangeSignals {
  return {
    epoch: EPOCH,
    sources: new Map([
      [10, [{ key: 'r10' }, { key: 'r1', signal: t1 }]],
      [20, [{ key: 'r20' }, { key: 'r10' }, { key: 'r1', signal: t1 }, { key: 'r2', signal: t2 }]],
    ]),
    openTransactions: [],
    ...overrides,
  };
}

const candidates = [{ oid: 10, name: 'public.mv1', populated: true }, { oid: 20, name: 'public.mv12', populated: true }];
const stored = (epoch: StatsEpoch = EPOCH): Map<number, Baseline> => new Map<number, Baseline>([
  [10, { viewName: 'public.mv1', epoch, sources: { r1: 'w:5,f:1' } }],
  [20, { viewName: 'public.mv12', epoch, sources: { r1: 'w:5,f:1', r2: 'w:5,f:2' } }],
]);
const decisions = (detection: ReturnType<typeof detectChanges>) => detection.views.map((view) => view.decision);
/** The names the catalog would give the sources' keys. */
const NAMES = new Map([['r1', 'public.t1'], ['r2', 'public.t2'], ['r10', 'public.mv1'], ['r20', 'public.mv12'], ['f9', 'public.fp()']]);
const named = (detection: ReturnType<typeof detectChanges>) => nameDecisions(detection.views, NAMES);

describe('change detection decisions', () => {
  test('equal signals within the same epoch prove both views unchanged', () => {
    expect(decisions(detectChanges(candidates, signals(), stored()))).toEqual(['unchanged', 'unchanged']);
  });

  test('a moved signal selects the view reading it, and the view reading that view', () => {
    const detection = detectChanges(candidates, signals({}, 'w:6,f:1'), stored());
    expect(sourcesToName(detection.views)).toEqual(['r1']);
    expect(named(detection)).toEqual([
      { oid: 10, view: 'public.mv1', decision: 'changed', sources: ['public.t1'] },
      { oid: 20, view: 'public.mv12', decision: 'changed', sources: ['public.t1'] },
    ]);
    expect(detection.baselines.get(20)!.sources).toEqual({ r1: 'w:6,f:1', r2: 'w:5,f:2' });
  });

  test('a view proven unchanged is still refreshed when a view it reads is refreshed for another reason', () => {
    const detection = detectChanges([{ ...candidates[0], populated: false }, candidates[1]], signals(), stored());
    expect(decisions(detection)).toEqual(['not-populated', 'upstream']);
  });

  test.each([
    ['a backend killed with SIGKILL (shared statistics reset, same start time)', { sharedReset: '2026-12-02 10:00:00+00' }, /pg_stat_bgwriter\.stats_reset/],
    ['a crash or an immediate shutdown (database reset back to NULL, new start time)', { started: '2026-12-02 10:00:00+00' }, /pg_postmaster_start_time/],
    ['a clean restart or a promoted standby (new start time only)', { started: '2026-12-02 11:00:00+00' }, /pg_postmaster_start_time/],
    ['a restore into another cluster', { system: '8' }, /system_identifier/],
    ['a per-table or database reset', { databaseReset: '2026-12-02 10:00:00+00' }, /pg_stat_database\.stats_reset/],
  ])('%s refreshes everything, naming why', (_case, change, reason) => {
    const detection = detectChanges(candidates, signals({ epoch: { ...EPOCH, ...change } }), stored());
    expect(decisions(detection)).toEqual(['full-refresh', 'full-refresh']);
    expect(detection.fullRefreshReason).toMatch(reason);
    expect(epochChange(EPOCH, EPOCH)).toBeUndefined();
  });

  test('writes that may go uncounted refresh everything, even with equal signals', () => {
    const detection = detectChanges(candidates, signals({ uncounted: 'track_counts is off for the server' }), stored());
    expect(detection.fullRefreshReason).toBe('track_counts is off for the server');
  });

  test('an untrackable source, a missing baseline and a source that no longer reaches the view each select it', () => {
    const untrackable = signals();
    (untrackable.sources.get(10) as SourceSignal[]).push({ key: 'f9', signal: 'def:1', untrackable: 'it is a plpgsql function' });
    expect(named(detectChanges(candidates, untrackable, stored()))[0]).toEqual(expect.objectContaining({ decision: 'untrackable', detail: 'public.fp(): it is a plpgsql function' }));
    expect(decisions(detectChanges(candidates, signals(), new Map()))).toEqual(['no-baseline', 'no-baseline']);
    const before = stored();
    before.set(10, { ...before.get(10)!, sources: { r1: 'w:5,f:1', r3: 'c:{4}' } });
    expect(detectChanges(candidates, signals(), before).views[0]).toEqual(expect.objectContaining({ decision: 'changed' }));
  });

  test('a definition found untrackable is stored so that the next read scans it again; a trackable one is not scanned again', () => {
    const read = signals();
    (read.sources.get(10) as SourceSignal[]).push(
      { key: 'r30', signal: 'def:77', untrackable: 'it calls or reads now() is stable' },
      { key: 'r31', signal: 'def:78' },
    );
    const { baselines } = detectChanges(candidates, read, stored());
    expect(baselines.get(10)!.sources).toMatchObject({ r30: 'untrackable:def:77', r31: 'def:78' });
    expect(knownDefinitions(baselines)).toEqual(['r31=def:78']);
  });

  test('views the database proved unchanged join the others\' decisions, in the order of the candidates', () => {
    const three = [...candidates, { oid: 30, name: 'public.mv3', populated: true }];
    const others = detectChanges([three[0], three[2]], signals({}, 'w:6,f:1'), stored());
    expect(withProvenUnchanged(three, new Set([20]), others.views).map((view) => [view.view, view.decision])).toEqual([
      ['public.mv1', 'changed'],
      ['public.mv12', 'unchanged'],
      ['public.mv3', 'no-baseline'],
    ]);
  });
});

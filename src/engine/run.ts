import type { Client } from 'pg';
import { ensureBaselineTable } from './baselines';
import { MIN_RUN_MS, reserveMs, runBudget, settleWithin } from './budget';
import { readConfig, RefreshConfig } from './config';
import { closeConnection, openConnection } from './connection';
import { ConnectionSettings, connectionSettings } from './credentials';
import { asRefreshError, describeError } from './errors';
import { readEvent } from './event';
import { RunLineage, startLineage } from './lineage/run-lineage';
import { logger, logInParts, recordViewDuration } from './observability';
import { toViewReport } from './outcome';
import { abandon } from './pg-internals';
import { RefreshPool } from './refresh-pool';
import { finishRun, planDependencies, skippedView } from './report';
import { RunLock, runLockKey } from './run-lock';
import { planSelection } from './run-plan';
import { executePlan } from './scheduler';
import { SilenceGuard } from './silence-guard';
import type { RefreshReport } from '../shared/contract';
import { RefreshError } from '../shared/refresh-error';

export interface RunContext {
  /** Milliseconds left before Lambda stops the invocation. */
  readonly remainingTimeMs: () => number;
}

type Env = Record<string, string | undefined>;

/**
 * One refresh run: validate, connect, resolve and plan the selection, take the selection's run lock, refresh.
 * Returns the report when every view was refreshed or another run held the lock; otherwise throws
 * a {@link RefreshError} whose name the state machine can match.
 */
export async function runRefresh(event: unknown, context: RunContext, env: Env): Promise<RefreshReport> {
  // Lineage keeps its time budget back from the run, so waiting for its events never makes the run late.
  const lineage = startLineage(env, event, context.remainingTimeMs());
  let report: RefreshReport;
  try {
    report = await refreshRun(event, { remainingTimeMs: () => context.remainingTimeMs() - lineage.reserveMs }, env, lineage);
  } catch (error) {
    await lineage.finish({ error });
    throw error;
  }
  const totals = await lineage.finish({ report });
  return totals ? { ...report, lineage: totals } : report;
}

async function refreshRun(event: unknown, context: RunContext, env: Env, lineage: RunLineage): Promise<RefreshReport> {
  const startedAt = new Date();
  const remaining = context.remainingTimeMs();
  const { deadline, graceMs, timeLeft } = runBudget(startedAt.getTime(), remaining);

  const config = readConfig(env);
  const request = readEvent(event);
  if (timeLeft() < MIN_RUN_MS) {
    throw new RefreshError('OUT_OF_TIME', `Nothing was refreshed: the invocation had ${remaining} ms left, `
      + `too little to connect, plan and refresh after keeping ${reserveMs(remaining)} ms for reporting`);
  }

  const { client, settings } = await openConnection(env, config.tlsMode, timeLeft());
  lineage.connected(settings);
  const guard = new SilenceGuard(client, graceMs, settings.target);
  let pool: RefreshPool | undefined;
  let heldLock: RunLock | undefined;
  let poolWatchdog: NodeJS.Timeout | undefined;
  try {
    // The catalog queries and the lock wait on this session cannot outlast the invocation either.
    let planningStarted = Date.now();
    if (config.detectChanges) await guard.bound('creating the change detection state', timeLeft(), () => ensureBaselineTable(client));
    const planned = await guard.bound('reading the catalog', timeLeft(), async () => {
      const begun = await RunLock.begin(client, timeLeft);
      heldLock = begun;
      planningStarted = Date.now();
      const selected = await planSelection(client, request, config);
      await lineage.planned(client, selected.plan);
      return { lock: begun, ...selected };
    });
    const { lock, plan } = planned;
    let { selection, detect } = planned;
    let planningMs = Date.now() - planningStarted;
    logInParts('Refresh run planned', plan.map((step) => ({ view: step.view.qualifiedName, concurrently: step.concurrently, dependsOn: step.dependsOn })), {
      planningMs,
      selection,
      concurrency: config.concurrency,
      credentials: settings.source,
    });
    if (plan.length === 0) {
      return finishRun({ startedAt, lock: 'not-needed', planningMs, views: [], selection }, config);
    }

    const lockWaitMs = Math.min(config.lockWaitMs, timeLeft());
    const lockKey = runLockKey(plan.map((step) => step.view.oid));
    const outcome = await guard.bound('waiting for the run lock', lockWaitMs, () => lock.acquire(lockKey, config.overlapPolicy, lockWaitMs));
    logger.info('Run lock', { lock: outcome, overlapPolicy: config.overlapPolicy });
    if (outcome === 'not-acquired') {
      const reason = `another refresh run of the same views holds their run lock (overlap policy ${config.overlapPolicy})`;
      const skipped = plan.map((step) => skippedView(step, reason));
      return finishRun({ startedAt, lock: outcome, planningMs, views: skipped, selection, dependencies: planDependencies(plan) }, config);
    }

    // While this run waited, the other one may have populated views, which changes CONCURRENTLY eligibility.
    let current = plan;
    if (outcome === 'acquired-after-wait') {
      const replanningStarted = Date.now();
      const replanned = await guard.bound('reading the catalog', timeLeft(), () => planSelection(client, request, config));
      current = replanned.plan;
      detect = replanned.detect;
      planningMs += Date.now() - replanningStarted;
    }
    if (detect) {
      // Signals are read under the lock, so no other run of these views refreshes between the read and this run's refreshes.
      const detectingStarted = Date.now();
      const detected = await guard.bound('reading the change signals', timeLeft(), () => detect!(timeLeft));
      current = detected.plan;
      selection = detected.selection;
      planningMs += Date.now() - detectingStarted;
      logger.info('Changes detected', { changes: selection.changes });
    }
    lock.keepAlive();
    const refreshPool = new RefreshPool(config.concurrency, settings, timeLeft());
    pool = refreshPool;
    poolWatchdog = watchRefreshConnections(refreshPool, Math.max(0, timeLeft()) + graceMs);
    const views = await executePlan(current, {
      pool: refreshPool,
      concurrency: config.concurrency,
      deadline,
      lockTimeoutMs: config.lockTimeoutMs,
      statementTimeoutMs: config.statementTimeoutMs,
      maxAttempts: config.maxAttempts,
      secrets: settings.secrets,
      stopReason: () => lock.lostReason && `the run lock was lost: ${lock.lostReason}`,
      reauthenticate: secretRereader(env, config, settings, refreshPool, timeLeft),
      onAttempt: (step, attempt) => {
        lineage.viewStarted(step);
        logger.debug('Refresh started', { view: step.view.qualifiedName, attempt, concurrently: step.concurrently });
      },
      onConnectionLimit: (connections) => logger.warn('Fewer connections than concurrency', {
        concurrency: config.concurrency,
        connections,
        reason: 'the server refused another connection for lack of free slots (53300); the run goes on with the connections it holds',
      }),
      onDone: (step, done) => {
        lineage.viewDone(step, done);
        const view = toViewReport(done);
        recordViewDuration(view);
        if (view.status === 'refreshed') logger.info('View refreshed', { ...view });
        else logger.warn(`View ${view.status}`, { ...view });
      },
    });
    // A lock session that stops answering cannot confirm the lock was held throughout: the lock counts as lost.
    const lost = await guard.bound('releasing the run lock', Math.max(0, timeLeft()), () => lock.release());
    const dependencies = planDependencies(current);
    return finishRun({ startedAt, lock: outcome, planningMs, views, selection, lockLost: guard.silence ?? lost, dependencies }, config);
  } catch (error) {
    throw asRefreshError(error, settings);
  } finally {
    clearTimeout(poolWatchdog);
    if (heldLock) await settleWithin(heldLock.release().catch(() => undefined), graceMs);
    // Ending a pool also waits for connections still being opened; a silent server would hold it past the deadline.
    if (pool) await settleWithin(pool.end(), graceMs);
    await closeConnection(client, graceMs);
  }
}

/**
 * Each refresh is bounded by its statement_timeout and a client timeout; should the server go silent on any
 * other statement of a refresh connection, the connection is abandoned when `ms` has passed.
 */
function watchRefreshConnections(pool: RefreshPool, ms: number): NodeJS.Timeout {
  const connections = new Set<Client>();
  pool.on('connect', (connection: Client) => connections.add(connection));
  pool.on('remove', (connection: Client) => connections.delete(connection));
  return setTimeout(() => connections.forEach(abandon), ms);
}

/**
 * What a refresh calls when the server rejects the credentials of a new connection: reads the secret again, at
 * most once per run however many connections the server rejects, and opens the next connections with it.
 */
function secretRereader(env: Env, config: RefreshConfig, settings: ConnectionSettings, pool: RefreshPool, timeLeft: () => number)
  : () => Promise<boolean> {
  let reread: Promise<boolean> | undefined;
  return () => reread ??= (async () => {
    // Only a secret can have changed; IAM signs a fresh token for every connection anyway.
    if (settings.source !== 'secret' && settings.source !== 'cached-secret') return false;
    try {
      const fresh = await connectionSettings(env, config.tlsMode, true);
      settings.secrets.push(...fresh.secrets);
      pool.useCredentials(fresh, timeLeft());
      logger.warn('The server rejected the credentials of a new connection; the secret was read again', { credentials: fresh.source });
      return true;
    } catch (error) {
      logger.warn('The server rejected the credentials of a new connection, and the secret could not be read again', { error: describeError(error) });
      return false;
    }
  })();
}

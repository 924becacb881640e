import type { Context } from 'aws-lambda';
import { logger, metrics, recordRunError } from './observability';
import { runRefresh } from './run';
import type { RefreshEvent, RefreshReport } from '../shared/contract';
import { RefreshError } from '../shared/refresh-error';

/**
 * Refreshes PostgreSQL materialized views in dependency order, in parallel, under a per-database run lock.
 * The logic lives in ./run; this entry point adapts the Lambda event and context to it.
 */
export async function handler(event: RefreshEvent, context: Context): Promise<RefreshReport> {
  logger.addContext(context);
  try {
    // A snapshot: the whole run sees the environment as it was when the invocation started.
    return await runRefresh(event, { remainingTimeMs: () => context.getRemainingTimeInMillis() }, { ...process.env });
  } catch (error) {
    recordRunError();
    if (error instanceof RefreshError) {
      logger.error('Refresh run failed', { errorName: error.name, errorMessage: error.message });
    } else {
      logger.error('Refresh run failed unexpectedly', { errorName: (error as Error).name });
    }
    throw error;
  } finally {
    metrics.publishStoredMetrics();
  }
}

/**
 * The entry point of the refresh task on ECS Fargate, bundled to `assets/task-bootstrap/bootstrap/index.js`.
 * The construct puts it inline into the container's command (`node -e`), so any image with Node.js 22 and the
 * AWS SDK for JavaScript v3 runs it, with no image of its own to build.
 */
import { runTask } from './task';

const log = (entry: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ timestamp: new Date().toISOString(), service: 'itc-orchestrator', ...entry })}\n`);

runTask(process.env, log).then(
  ({ succeeded }) => process.exit(succeeded ? 0 : 1),
  (err: unknown) => {
    // The answer to the state machine could not be sent; its heartbeat timeout ends the wait.
    log({ level: 'ERROR', message: 'Refresh task could not report', errorName: (err as Error)?.name, errorMessage: (err as Error)?.message });
    process.exit(1);
  },
);

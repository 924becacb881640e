export { ConcurrentRefresh, OverlapPolicy } from './shared/refresh-policies';
export type { ViewDependency } from './shared/refresh-policies';
export { Pipeline } from './pipeline';
export { DatabaseAuthentication, DatabaseTls, OrchestratorDatabase } from './orchestrator-database';
export type { DatabaseEndpointOptions, DatabaseOptions } from './orchestrator-database';
export { ItcOrchestrator } from './orchestrator';
export type { FreshnessOptions, ItcOrchestratorProps, OrchestratorSchedule, RefreshOptions } from './orchestrator-props';
export { RefreshCompute } from './refresh-compute';
export type { FargateRefreshComputeOptions, LambdaRefreshComputeOptions } from './refresh-compute';

export { ConcurrentRefresh, OverlapPolicy } from './refresh-contract';
export { Pipeline } from './pipeline';
export { DatabaseCredentials } from './database-credentials';
export type { EnvironmentCredentialsProps } from './database-credentials';
export { ItcOrchestrator } from './orchestrator';
export type { ItcOrchestratorProps, OrchestratorSchedule, RefreshOptions } from './orchestrator';

export { ConcurrentRefresh, OverlapPolicy } from './refresh-policies';
export { Pipeline } from './pipeline';
export { DatabaseCredentials } from './database-credentials';
export type { EnvironmentCredentialsProps } from './database-credentials';
export { ItcOrchestrator } from './orchestrator';
export type { ItcOrchestratorProps, OrchestratorSchedule, RefreshOptions } from './orchestrator-props';

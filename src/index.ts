export { ConcurrentRefresh, OverlapPolicy } from './refresh-contract';
export { Pipeline } from './pipeline';
export { DatabaseCredentials, EnvironmentCredentialsProps } from './database-credentials';
export { ItcOrchestrator, ItcOrchestratorProps, OrchestratorSchedule, RefreshOptions } from './orchestrator';

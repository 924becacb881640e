export { ConcurrentRefresh, OverlapPolicy } from './refresh-contract';

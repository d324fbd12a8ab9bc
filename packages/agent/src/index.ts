export { Agent, type AgentOptions, type AgentStatus } from './agent.ts';
export { AgentState } from './agent-state.ts';
export { HubClient } from './hub-client.ts';
export { ManifestsDirDriver, manifestFileName } from './drivers/manifests-dir.ts';
export type { Driver, AppliedResource, ObservedResource } from './drivers/driver.ts';

// The agent's public surface: what `flotilla-agent run` is built from, and what a program that
// embeds an agent (the demo, the end-to-end tests, a custom runtime) needs.
export { Agent, type AgentOptions, type AgentStatus, type DriverFactory } from './agent.ts';
export { buildRuntime, type RuntimeDependencies } from './build-runtime.ts';
export { SingleAgentRuntime, type AgentRuntime } from './agent-runtime.ts';
export {
  ElectedAgent,
  type Election,
  type ElectionEvents,
  type ElectedAgentOptions,
  type ElectedAgentStatus,
} from './elected-agent.ts';
export { HubStream, type HubStreamOptions, type StreamState } from './stream/hub-stream.ts';
export { HubEndpoints, isReplicaDown, type HubFailure } from './hub-endpoints.ts';
export { Backoff } from './backoff.ts';
export type { Transport } from './sync/pull-loop.ts';
export { runConfig, RUN_ENVIRONMENT, type RunConfig } from './config.ts';
export { startHealthServer, type HealthCheck, type HealthServer, type HealthServerOptions } from './health-server.ts';

// Where an agent keeps its identity and what it applied.
export {
  EMPTY_SYNC_STATE,
  Enrollment,
  FileAgentStore,
  identityConflict,
  isIdentityConflict,
  KeyRotationState,
  SyncState,
  type AgentStore,
} from './agent-state.ts';
export { KeyRotation, requestKeyRotation, type KeyRotationOptions } from './key-rotation.ts';
export {
  IDENTITY_SECRET_NAME,
  IDENTITY_SECRET_TYPE,
  SecretAgentStore,
  type SecretAgentStoreOptions,
} from './drivers/kubernetes/secret-agent-store.ts';

// Drivers.
export type {
  AppliedResource,
  Driver,
  DriverApplyOptions,
  DriverRepairOptions,
  ObservedResource,
} from './drivers/driver.ts';
export { ManifestsDirDriver, manifestFileName } from './drivers/manifests-dir.ts';
export {
  KubernetesDriver,
  type ApplyOptions,
  type ForcePolicy,
  type KubernetesDriverOptions,
} from './drivers/kubernetes/kubernetes-driver.ts';
export { fileInventory, InventoryEntry, memoryInventory, type InventoryStore } from './drivers/kubernetes/inventory.ts';
export { substrateOf } from './drivers/kubernetes/substrate.ts';

// Reaching a cluster.
export type { ClusterConnection, TokenSource } from './drivers/kubernetes/cluster-connection.ts';
export { inClusterConnection, type InClusterOptions } from './drivers/kubernetes/in-cluster-connection.ts';
export { kubeconfigConnection, type KubeconfigOptions } from './drivers/kubernetes/kubeconfig-connection.ts';
export { FileTokenSource, staticToken, type FileTokenSourceOptions } from './drivers/kubernetes/token-source.ts';
export { KubeClient, type KubeClientOptions } from './drivers/kubernetes/kube-client.ts';
export { LeaseElector, type LeaseElectorOptions } from './drivers/kubernetes/lease-elector.ts';

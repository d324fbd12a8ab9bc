import { hostname } from 'node:os';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import type { Logger } from 'pino';
import { NO_FAULTS, type FaultPoints } from '@flotilla/protocol';
import { Agent, type AgentOptions, type DriverFactory } from './agent.ts';
import { SingleAgentRuntime, type AgentRuntime } from './agent-runtime.ts';
import type { RunConfig } from './config.ts';
import { ElectedAgent } from './elected-agent.ts';
import { ManifestsDirDriver } from './drivers/manifests-dir.ts';
import type { ClusterConnection } from './drivers/kubernetes/cluster-connection.ts';
import { inClusterConnection, type InClusterOptions } from './drivers/kubernetes/in-cluster-connection.ts';
import { fileInventory } from './drivers/kubernetes/inventory.ts';
import { KubeClient } from './drivers/kubernetes/kube-client.ts';
import { kubeconfigConnection } from './drivers/kubernetes/kubeconfig-connection.ts';
import { KubernetesDriver } from './drivers/kubernetes/kubernetes-driver.ts';
import { LeaseElector } from './drivers/kubernetes/lease-elector.ts';
import { SecretAgentStore } from './drivers/kubernetes/secret-agent-store.ts';
import type { SyncMetrics } from './sync/sync-metrics.ts';
import { AGENT_VERSION } from './version.ts';

/** The namespace of the Lease and the identity Secret when neither a flag nor the pod says. */
const DEFAULT_AGENT_NAMESPACE = 'flotilla-system';

export interface RuntimeDependencies {
  /** Read only for KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, in a pod. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  /** Default `os.hostname()`, which in a pod is the pod's name. */
  readonly hostname?: string;
  /** Where the service-account files are, in a pod (tests point elsewhere). */
  readonly serviceAccount?: Omit<InClusterOptions, 'env'>;
  /** Agent settings that have no flag: backoff and clock, for tests. */
  readonly agent?: Pick<AgentOptions, 'backoff' | 'clock'>;
  /** Told how the sync loop runs, with `--metrics-port`. */
  readonly metrics?: SyncMetrics;
  /** Called when the agent cannot go on (a refused enrollment); `main` exits. */
  readonly onFatal?: (error: Error) => void;
  /** Test-only crash points, built by `main` from `FLOTILLA_FAULT`; default none. */
  readonly faults?: FaultPoints;
  /** Called once per agent that syncs, after its first observe pass reported (`AgentOptions`). */
  readonly onFirstObserved?: () => void;
}

/**
 * Builds what `flotilla-agent run` runs from its configuration: an agent with the
 * manifests-dir driver and a state directory; or, with the kubernetes driver, an agent whose
 * identity lives in a Secret in its namespace, behind leader election on a Lease (one pod of the
 * DaemonSet syncs, the others stand by) unless `leaderElection` is off.
 */
export function buildRuntime(config: RunConfig, deps: RuntimeDependencies): AgentRuntime {
  const faults = deps.faults ?? NO_FAULTS;
  const base = {
    hubUrl: config.hub,
    log: deps.log,
    enrollToken: config.enrollToken,
    name: config.name,
    trustRootPin: config.trustRootPin,
    waitSeconds: config.waitSeconds,
    transport: config.transport,
    reconnectWindowMs: config.reconnectWindowSeconds * 1000,
    observeIntervalMs: config.observeSeconds * 1000,
    faults,
    keyRotationDays: config.keyRotationDays,
    inboxDir: config.inbox,
    outboxDir: config.outbox,
    outboxIntervalMs: config.outboxSeconds * 1000,
    ...(config.registry === undefined
      ? {}
      : { registry: { url: config.registry, credentialsFile: config.registryCredentials } }),
    ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
    ...(deps.onFirstObserved === undefined ? {} : { onFirstObserved: deps.onFirstObserved }),
    ...deps.agent,
  } satisfies Partial<AgentOptions>;
  if (config.driver === 'manifests-dir') {
    return new SingleAgentRuntime(
      new Agent({
        ...base,
        stateDir: config.stateDir,
        driver: new ManifestsDirDriver(config.root as string, AGENT_VERSION, { faults }),
      }),
    );
  }
  return kubernetesRuntime(config, deps, base);
}

function kubernetesRuntime(
  config: RunConfig,
  deps: RuntimeDependencies,
  base: Omit<AgentOptions, 'driver'>,
): AgentRuntime {
  const connection: ClusterConnection =
    config.kubeconfig !== undefined
      ? kubeconfigConnection({
          path: config.kubeconfig,
          ...(config.context === undefined ? {} : { context: config.context }),
        })
      : inClusterConnection({ env: deps.env, ...deps.serviceAccount });
  // In a pod, the service account's namespace; with a kubeconfig, its context's namespace is
  // about kubectl's default, not the agent's home, so it is not used.
  const namespace =
    config.namespace ?? (config.kubeconfig === undefined ? connection.namespace : undefined) ?? DEFAULT_AGENT_NAMESPACE;
  const podName = config.podName ?? deps.hostname ?? hostname();
  const facts = { agentPod: podName, ...(config.nodeName === undefined ? {} : { agentNode: config.nodeName }) };
  const log = deps.log.child({ namespace });
  const kube = new KubeClient(connection, { userAgent: `flotilla-agent/${AGENT_VERSION}` });
  const inventoryPath = join(config.stateDir, 'kubernetes-inventory.json');
  const driver =
    (fresh: boolean): DriverFactory =>
    (enrollment) => {
      // A new leader cannot trust an inventory file left from an earlier term on this pod: another
      // pod may have applied and pruned since. Without the file, the driver rebuilds the inventory
      // from the objects labelled with this target.
      if (fresh) rmSync(inventoryPath, { force: true });
      return new KubernetesDriver({
        connection,
        owner: enrollment.targetId,
        inventory: fileInventory(inventoryPath),
        log,
        agentVersion: AGENT_VERSION,
        faults: base.faults ?? NO_FAULTS,
      });
    };
  const agent = (fresh: boolean): Agent =>
    new Agent({
      ...base,
      log,
      store: new SecretAgentStore({ client: kube, namespace, name: config.identitySecret, dir: config.stateDir, log }),
      driver: driver(fresh),
      facts,
    });

  const close = (): Promise<void> => kube.close();
  if (!config.leaderElection) return new SingleAgentRuntime(agent(false), { facts, close });
  const renewDeadlineMs = Math.round((config.leaseSeconds * 1000 * 2) / 3);
  return new ElectedAgent({
    identity: podName,
    node: config.nodeName,
    log,
    agent: () => agent(true),
    close,
    ...(deps.onFatal === undefined ? {} : { onFatal: deps.onFatal }),
    elect: (events) =>
      new LeaseElector({
        client: kube,
        namespace,
        name: config.leaseName,
        identity: podName,
        leaseDurationSeconds: config.leaseSeconds,
        renewDeadlineMs,
        retryPeriodMs: Math.max(100, Math.round(renewDeadlineMs / 5)),
        log,
        ...events,
      }),
  });
}

import { z } from 'zod';
import { type Facts } from '@flotilla/protocol';
import { parseQuantity } from '@flotilla/protocol/drift';
import type { KubeClient } from './kube-client.ts';
import { clusterSubstrate } from './substrate.ts';
import { ordinal } from './string-order.ts';

const VersionInfo = z.object({ gitVersion: z.string() });

const NodeList = z.object({
  metadata: z.object({ continue: z.string().optional() }).nullish(),
  items: z.array(
    z.object({
      metadata: z.object({ name: z.string(), labels: z.record(z.string(), z.string()).nullish() }),
      spec: z.object({ providerID: z.string().optional() }).nullish(),
      status: z
        .object({
          allocatable: z.record(z.string(), z.string()).nullish(),
          nodeInfo: z.object({ kubeletVersion: z.string().optional() }).nullish(),
        })
        .nullish(),
    }),
  ),
});
type Node = z.infer<typeof NodeList>['items'][number];

const REGION_LABEL = 'topology.kubernetes.io/region';

async function listNodes(client: KubeClient): Promise<Node[]> {
  const nodes: Node[] = [];
  let next: string | undefined;
  do {
    const page = NodeList.parse(await client.call('GET', '/api/v1/nodes', { query: { limit: '500', continue: next } }));
    nodes.push(...page.items);
    next = page.metadata?.continue || undefined;
  } while (next !== undefined);
  return nodes.sort((a, b) => ordinal(a.metadata.name, b.metadata.name));
}

/**
 * Sums what the nodes can hand out: `cpu` in cores, `memory`, `ephemeral-storage` and
 * `hugepages-*` in bytes, and device plugins' counts such as `nvidia.com/gpu`.
 */
function sumAllocatable(nodes: readonly Node[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const node of nodes) {
    for (const [name, quantity] of Object.entries(node.status?.allocatable ?? {})) {
      const value = parseQuantity(quantity);
      if (value !== undefined && name.length <= 128) totals[name] = (totals[name] ?? 0) + value;
    }
  }
  for (const [name, value] of Object.entries(totals)) {
    // Cores keep millicore precision; everything else is a whole number of units or bytes.
    totals[name] = name === 'cpu' ? Math.round(value * 1000) / 1000 : Math.round(value);
    if (totals[name] === 0) delete totals[name];
  }
  return totals;
}

/**
 * Facts about a cluster for its target record: the API server's version, each node's kubelet
 * version, the node count, allocatable capacity summed over nodes, the regions the nodes are
 * labelled with, and the substrate read from the nodes' provider IDs.
 */
export async function collectClusterFacts(client: KubeClient): Promise<Facts> {
  const version = VersionInfo.parse(await client.call('GET', '/version'));
  const nodes = await listNodes(client);
  const regions = [
    ...new Set(
      nodes.map((n) => n.metadata.labels?.[REGION_LABEL]).filter((r): r is string => r !== undefined && r !== ''),
    ),
  ].sort();
  const substrate = clusterSubstrate(nodes.map((n) => n.spec?.providerID));
  return {
    driver: 'kubernetes',
    kubernetesVersion: version.gitVersion,
    kubeletVersions: nodes.map((n) => n.status?.nodeInfo?.kubeletVersion ?? 'unknown'),
    nodeCount: nodes.length,
    capabilities: sumAllocatable(nodes),
    ...(substrate === undefined ? {} : { substrate }),
    ...(regions.length === 0 ? {} : { regions }),
  };
}

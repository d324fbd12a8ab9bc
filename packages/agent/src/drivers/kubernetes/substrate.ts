import { ordinal } from './string-order.ts';

// Cloud provider IDs name their cloud as the URL scheme (`aws:///eu-west-1a/i-0abc`,
// `gce://project/zone/name`, `azure:///subscriptions/…`). Distributions that set a provider ID
// without a cloud (k3s, RKE2) run wherever they were installed, which is on premises for us.
const ON_PREM_SCHEMES = new Set(['k3s', 'rke2', 'metal3', 'baremetal']);

/**
 * The substrate a node runs on, from its `spec.providerID`: the cloud's scheme (`aws`, `gce`,
 * `azure`, `openstack`, `vsphere`, `kind`, …), or `on-prem` when there is none.
 */
export function substrateOf(providerID: string | undefined): string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(providerID ?? '')?.[1]?.toLowerCase();
  if (scheme === undefined || ON_PREM_SCHEMES.has(scheme)) return 'on-prem';
  return scheme.slice(0, 64);
}

/** The substrate of a cluster: the one most of its nodes run on. */
export function clusterSubstrate(providerIDs: readonly (string | undefined)[]): string | undefined {
  if (providerIDs.length === 0) return undefined;
  const counts = new Map<string, number>();
  for (const id of providerIDs) {
    const substrate = substrateOf(id);
    counts.set(substrate, (counts.get(substrate) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1] || ordinal(a[0], b[0]))[0]?.[0];
}

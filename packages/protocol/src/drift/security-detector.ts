import { z } from 'zod';

/**
 * The built-in detectors of security-relevant drift. They run on every item whatever the
 * policy says, and the rule engine uses their verdict to stop a rule that matches on
 * self-asserted facts (the manager name, the operation, managedFields time, a hold) from
 * silencing a security-relevant change.
 *
 * - `image-not-allowed`: a container image that is neither the desired one nor from an
 *   allowed registry;
 * - `privilege-escalation`: privileged, allowPrivilegeEscalation, added capabilities, dropped
 *   drops, root user, hostPath volumes, host namespaces, unconfined seccomp/AppArmor;
 * - `container-added`: a container the desired pod spec does not have;
 * - `rbac-change`: Role/ClusterRole rules, RoleBinding/ClusterRoleBinding subjects or roleRef,
 *   or an RBAC object that should have been pruned;
 * - `network-policy-change`: a NetworkPolicy's spec changed;
 * - `network-policy-deleted`: a desired NetworkPolicy is gone;
 * - `resource-deleted`: any desired resource is gone.
 */
export const SecurityDetector = z.enum([
  'image-not-allowed',
  'privilege-escalation',
  'container-added',
  'rbac-change',
  'network-policy-change',
  'network-policy-deleted',
  'resource-deleted',
]);
export type SecurityDetector = z.infer<typeof SecurityDetector>;

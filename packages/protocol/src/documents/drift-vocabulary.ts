import { z } from 'zod';

/*
 * The words drift documents are written in, shared by the drift policy, the report's drift
 * section and the classifier.
 */

/**
 * How a resource or field differs from what Flotilla applied:
 * - `modified`: both have the field, with different values;
 * - `added`: the live object has a field the desired one does not (reported only where it is
 *   security-relevant, or for extra items of an ordered list);
 * - `removed`: the desired field is missing from the live object;
 * - `deleted-resource`: a desired resource is absent;
 * - `extra-resource`: a resource Flotilla manages is present but no longer desired.
 */
export const DriftChange = z.enum(['modified', 'added', 'removed', 'deleted-resource', 'extra-resource']);
export type DriftChange = z.infer<typeof DriftChange>;

/** `Apply` (server-side apply) or `Update` (any other write), as managedFields records it. */
export const DriftOperation = z.enum(['Apply', 'Update', 'unknown']);
export type DriftOperation = z.infer<typeof DriftOperation>;

/**
 * How an actor was found:
 * - `field-owner`: the manager whose set contains the drifted field;
 * - `ancestor-owner`: the manager that owns an atomic ancestor (a whole list or struct);
 * - `nearest-manager`: nobody owns the field (it was removed); the most recent other manager
 *   that manages something closest to it, which is a guess;
 * - `none`: the substrate does not say (manifests-dir, a deleted resource, no managedFields).
 */
export const AttributionBasis = z.enum(['field-owner', 'ancestor-owner', 'nearest-manager', 'none']);
export type AttributionBasis = z.infer<typeof AttributionBasis>;

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

import { z } from 'zod';
import { FlotillaError, isFlotillaError } from '@flotilla/protocol';

/** A Kubernetes `Status`, read leniently: servers and proxies differ in what they fill in. */
const KubeStatus = z.object({
  kind: z.string().optional(),
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().optional(),
  details: z
    .object({
      name: z.string().optional(),
      group: z.string().optional(),
      kind: z.string().optional(),
      causes: z
        .array(
          z.object({ reason: z.string().optional(), message: z.string().optional(), field: z.string().optional() }),
        )
        .optional(),
    })
    .nullish(),
});
type KubeStatus = z.infer<typeof KubeStatus>;

/** One field server-side apply refused because another manager owns it. */
interface FieldConflict {
  /** `.spec.replicas`, `.spec.template.spec.containers[name="app"].image` */
  readonly field: string;
  /** The other field manager, such as `kubectl-edit` or `kube-controller-manager`. */
  readonly manager: string;
  readonly subresource?: string;
}

/** Reads the managers out of `conflict with "kubectl-edit" using apps/v1` causes. */
function conflictsOf(status: KubeStatus): FieldConflict[] {
  const conflicts: FieldConflict[] = [];
  for (const cause of status.details?.causes ?? []) {
    if (cause.reason !== 'FieldManagerConflict') continue;
    const manager = /conflict with "([^"]+)"/.exec(cause.message ?? '')?.[1] ?? 'an unnamed manager';
    const subresource = /with subresource "([^"]+)"/.exec(cause.message ?? '')?.[1];
    conflicts.push({
      field: cause.field ?? '(unknown field)',
      manager,
      ...(subresource === undefined ? {} : { subresource }),
    });
  }
  return conflicts;
}

/**
 * The error for a failed API call. A server-side apply conflict becomes `KUBE_APPLY_CONFLICT`
 * with the conflicting fields and their managers in `details.conflicts`; rejected credentials
 * become `UNAUTHENTICATED`; anything else is `KUBE_API_ERROR` with the HTTP status and the
 * Status reason in `details`.
 */
export function kubeApiError(method: string, path: string, httpStatus: number, body: unknown): FlotillaError {
  const parsed = KubeStatus.safeParse(body);
  const status: KubeStatus = parsed.success ? parsed.data : {};
  const reason = status.reason ?? `HTTP ${httpStatus}`;
  const message = status.message ?? (typeof body === 'string' && body !== '' ? body.slice(0, 300) : 'no message');
  if (httpStatus === 401) {
    return new FlotillaError(
      'UNAUTHENTICATED',
      `the Kubernetes API server rejected the agent's credentials (${method} ${path}); check the service-account token or kubeconfig user`,
      { status: 401 },
    );
  }
  const conflicts = httpStatus === 409 ? conflictsOf(status) : [];
  if (conflicts.length > 0) {
    return new FlotillaError('KUBE_APPLY_CONFLICT', message, { status: 409, reason, conflicts });
  }
  return new FlotillaError('KUBE_API_ERROR', `${method} ${path} failed: ${reason}: ${message}`, {
    status: httpStatus,
    reason,
    ...(status.details?.causes === undefined ? {} : { causes: status.details.causes }),
  });
}

/** The HTTP status of a failed API call, or undefined for other errors. */
export function kubeHttpStatus(error: unknown): number | undefined {
  if (!isFlotillaError(error)) return undefined;
  const status = error.details?.['status'];
  return typeof status === 'number' ? status : undefined;
}

/** The conflicts of a `KUBE_APPLY_CONFLICT` error. */
function fieldConflicts(error: unknown): readonly FieldConflict[] {
  if (!isFlotillaError(error, 'KUBE_APPLY_CONFLICT')) return [];
  return (error.details?.['conflicts'] as FieldConflict[] | undefined) ?? [];
}

/** Errors after which no further call can succeed in this pass: the agent retries the pass. */
export function isPassFatal(error: unknown): boolean {
  return isFlotillaError(error, 'KUBE_UNREACHABLE') || isFlotillaError(error, 'UNAUTHENTICATED');
}

/** A failed call in words for a report: a conflict names each field and its manager. */
export function describeError(error: unknown): string {
  if (isFlotillaError(error, 'KUBE_APPLY_CONFLICT')) {
    const fields = fieldConflicts(error).map(
      (c) => `${c.field} (managed by "${c.manager}"${c.subresource === undefined ? '' : ` through ${c.subresource}`})`,
    );
    return `apply conflict: ${fields.join(', ')} changed by another field manager; Flotilla did not force it. Adopt the change into a release, revert it by hand, or apply with force`;
  }
  return error instanceof Error ? error.message : String(error);
}

import { z } from 'zod';

/**
 * Every failure Flotilla reports has one of these codes. They are stable: clients branch on
 * them, so a code is never renamed or reused for another meaning.
 */
export const ErrorCode = z.enum([
  'BAD_REQUEST',
  'VALIDATION_FAILED',
  'BODY_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'CONFLICT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'CSRF_TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'TOKEN_REPLAYED',
  'ENROLL_TOKEN_INVALID',
  'ENROLL_TOKEN_EXPIRED',
  'ENROLL_TOKEN_USED_UP',
  'ENROLL_TOKEN_REVOKED',
  'ROOT_KEY_OFFLINE',
  'PROOF_INVALID',
  'TARGET_REVOKED',
  'TARGET_DISABLED',
  'SIGNATURE_INVALID',
  'SIGNATURE_MALFORMED',
  'KEY_UNKNOWN',
  'KEY_WEAK',
  'THRESHOLD_NOT_MET',
  'ENVELOPE_SIGNATURE_INVALID',
  'ENVELOPE_KEY_UNKNOWN',
  'ENVELOPE_TARGET_MISMATCH',
  'ENVELOPE_ROLLBACK',
  'ENVELOPE_EXPIRED',
  'ENVELOPE_EQUIVOCATION',
  'BUNDLE_DIGEST_MISMATCH',
  'BUNDLE_MISSING',
  'BUNDLE_SIGNATURE_THRESHOLD',
  'BUNDLE_LENGTH_MISMATCH',
  'TRUST_ROOT_INVALID',
  'CANONICAL_JSON_UNSUPPORTED',
  'JSON_TOO_DEEP',
  'MANIFEST_INVALID',
  'QUERY_SYNTAX',
  'QUERY_UNKNOWN_FIELD',
  'QUERY_TYPE',
  'QUERY_CURSOR_INVALID',
  'REPORT_SEQ_CONFLICT',
  'DRIVER_FAILED',
  'KUBE_API_ERROR',
  'KUBE_APPLY_CONFLICT',
  'KUBE_KIND_UNKNOWN',
  'KUBE_UNREACHABLE',
  'HUB_UNAVAILABLE',
  'STORE_UNAVAILABLE',
  'RATE_LIMITED',
  'CONFIG_INVALID',
  'DRIFT_POLICY_INVALID',
  'DRIFT_POLICY_UNKNOWN',
  'DRIFT_POLICY_DIGEST_MISMATCH',
  'DRIFT_PATH_INVALID',
  'AUDIT_CHAIN_BROKEN',
  'AUDIT_CHECKPOINT_INVALID',
  'AUDIT_CURSOR_INVALID',
  'POLICY_INVALID',
  'POLICY_REFUSED',
  'PLACEMENT_INVALID',
  'APPROVAL_INVALID',
  'ATTESTATION_INVALID',
  'TRANSFER_SIGNATURE_MISSING',
  'TRANSFER_SIGNATURE_INVALID',
  'TRANSFER_KEY_UNKNOWN',
  'TRANSFER_MANIFEST_INVALID',
  'TRANSFER_HEADER_INVALID',
  'TRANSFER_ENTRY_UNLISTED',
  'TRANSFER_ENTRY_DUPLICATE',
  'TRANSFER_ENTRY_UNSAFE_PATH',
  'TRANSFER_ENTRY_TYPE',
  'TRANSFER_ENTRY_RENAMED',
  'TRANSFER_ENTRY_ORDER',
  'TRANSFER_ENTRY_MISSING',
  'TRANSFER_ENTRY_TOO_LONG',
  'TRANSFER_ENTRY_TOO_SHORT',
  'TRANSFER_DIGEST_MISMATCH',
  'TRANSFER_TRUNCATED',
  'TRANSFER_TRAILING_DATA',
  'REPORTS_FILE_INVALID',
  'REPORTS_TARGET_MISMATCH',
  'REPORTS_KEY_UNKNOWN',
  'REPORTS_SIGNATURE_INVALID',
  'REPORTS_ORDER',
  'REPORTS_CHAIN_BROKEN',
  'REPORTS_KEY_RETIRED',
  'RECEIPT_INVALID',
  'RECEIPT_KEY_UNKNOWN',
  'RECEIPT_SIGNATURE_INVALID',
  'RECEIPT_TARGET_MISMATCH',
  'OCI_LAYOUT_INVALID',
  'OCI_DIGEST_MISMATCH',
  'REGISTRY_UNAUTHORIZED',
  'REGISTRY_ERROR',
  'REGISTRY_UNREACHABLE',
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/**
 * The codes an agent refuses desired state with when what it received was forged, tampered
 * with, replayed, or from a hub that forked its history or stopped vouching. The hub records a
 * report carrying one as a security event (`security.<code>` in the audit log), not only as a
 * stalled sync.
 */
export const SECURITY_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ENVELOPE_SIGNATURE_INVALID',
  'ENVELOPE_KEY_UNKNOWN',
  'ENVELOPE_TARGET_MISMATCH',
  'ENVELOPE_ROLLBACK',
  'ENVELOPE_EXPIRED',
  'ENVELOPE_EQUIVOCATION',
  'BUNDLE_DIGEST_MISMATCH',
  'BUNDLE_SIGNATURE_THRESHOLD',
  'BUNDLE_LENGTH_MISMATCH',
  'DRIFT_POLICY_DIGEST_MISMATCH',
  'BODY_TOO_LARGE',
  'TRUST_ROOT_INVALID',
]);

/**
 * The one error type of Flotilla. `code` is for programs, `message` for people: it says what
 * was expected, what was received and what to do next, and never contains a secret.
 */
export class FlotillaError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'FlotillaError';
    this.code = code;
    this.details = details;
  }

  toResponse(): ErrorResponse {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

/** The body of every error response of the hub's API. */
export const ErrorResponse = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorResponse = z.infer<typeof ErrorResponse>;

export function isFlotillaError(value: unknown, code?: ErrorCode): value is FlotillaError {
  return value instanceof FlotillaError && (code === undefined || value.code === code);
}

/**
 * The error an HTTP answer's body carries, as the hub sent it (code, message, details), or
 * `fallback` when the body is not an error response. `status` joins the details, so a caller
 * can still tell a 401 from a 403.
 */
export function errorFromResponse(
  status: number,
  body: string,
  fallback: { readonly code: ErrorCode; readonly message: string },
): FlotillaError {
  let parsed: ErrorResponse | undefined;
  try {
    const result = ErrorResponse.safeParse(JSON.parse(body));
    parsed = result.success ? result.data : undefined;
  } catch {
    parsed = undefined;
  }
  const known = ErrorCode.safeParse(parsed?.error.code);
  return new FlotillaError(known.success ? known.data : fallback.code, parsed?.error.message ?? fallback.message, {
    ...parsed?.error.details,
    status,
  });
}

/**
 * The message of anything thrown: an `Error`'s message, or the value itself as text, for the
 * places that report a failure they did not raise.
 *
 * @example `cannot read ${path}: ${messageOf(error)}`
 */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

import {
  canonicalize,
  FlotillaError,
  parseJson,
  parseWith,
  SignedReport,
  type ErrorCode,
  type Signature,
} from '@flotilla/protocol';

/** The most bytes a report's body may have. */
export const REPORT_BODY_LIMIT = 4 * 1024 * 1024;

/**
 * A report's body read and checked, as the report service takes it: the canonical JSON of the
 * whole signed report (what the store keeps) and whether its signature is the target's, or the
 * signed report alone when it could not be put in canonical form or checked (no key to check
 * against, another target's report), which the service then refuses with the reason.
 */
export type ReadReport =
  | { readonly kind: 'checked'; readonly body: string; readonly valid: boolean }
  | { readonly kind: 'unchecked'; readonly signed: SignedReport };

/** A refusal made where the body was read (a worker thread), to be thrown again as a {@link FlotillaError}. */
export interface Refusal {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/** Verifies a report's canonical JSON against the target's key: on the calling thread, or on libuv's pool. */
export type VerifyReport = (canonical: string, signature: Signature, publicKey: string) => boolean | Promise<boolean>;

/**
 * Parses a report's body (bounded JSON: nesting past the limit refused before anything walks
 * it), validates it as a signed report, puts it in canonical form and checks its signature
 * against `publicKey` when the report is about `targetId`. Every way the body can be wrong
 * throws the {@link FlotillaError} the HTTP API answers with, as `readJson` does for other routes.
 */
export function readReport(
  bytes: Uint8Array,
  targetId: string,
  publicKey: string | undefined,
  verify: (canonical: string, signature: Signature, publicKey: string) => boolean,
): ReadReport;
export function readReport(
  bytes: Uint8Array,
  targetId: string,
  publicKey: string | undefined,
  verify: VerifyReport,
): ReadReport | Promise<ReadReport>;
export function readReport(
  bytes: Uint8Array,
  targetId: string,
  publicKey: string | undefined,
  verify: VerifyReport,
): ReadReport | Promise<ReadReport> {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  const signed = parseWith(SignedReport, parseJson(text, 'the request body'), 'request body');
  if (publicKey === undefined || signed.report.targetId !== targetId) return { kind: 'unchecked', signed };
  let report: string;
  try {
    report = canonicalize(signed.report);
  } catch {
    return { kind: 'unchecked', signed };
  }
  // canonicalize(signed), made from the part already canonical: its keys sort "report" first.
  const body = `{"report":${report},"signature":${canonicalize(signed.signature)}}`;
  const valid = verify(report, signed.signature, publicKey);
  return typeof valid === 'boolean'
    ? { kind: 'checked', body, valid }
    : valid.then((ok): ReadReport => ({ kind: 'checked', body, valid: ok }));
}

/** A thrown error as a message a worker can post: a {@link FlotillaError} keeps its code and details. */
export function toRefusal(error: unknown): Refusal | undefined {
  if (!(error instanceof FlotillaError)) return undefined;
  return {
    code: error.code,
    message: error.message,
    ...(error.details === undefined ? {} : { details: error.details }),
  };
}

/** The {@link FlotillaError} a {@link Refusal} stands for. */
export function fromRefusal(refusal: Refusal): FlotillaError {
  return new FlotillaError(refusal.code, refusal.message, refusal.details);
}

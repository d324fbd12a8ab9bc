import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { FlotillaError, isFlotillaError } from '../errors.ts';
import type { Query } from '../query/ast.ts';
import { parseQuery } from '../query/parse-query.ts';
import { POLICY_LIMITS, Policy } from './policy-document.ts';

/** One thing wrong with a policy document, at the path of the field (`spec.approvals.required`). */
export interface PolicyProblem {
  readonly path: string;
  readonly message: string;
}

/** A path as people read it: `spec.windows.allow[0].start`. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out === '' ? '(document)' : out;
}

function problemsOf(error: z.ZodError): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        problems.push({
          path: formatIssuePath([...issue.path, key]),
          message: `unknown field '${key}'; see docs/policy.md for the fields a policy has`,
        });
    } else {
      problems.push({ path: formatIssuePath(issue.path), message: issue.message });
    }
  }
  return problems;
}

function invalid(problems: readonly PolicyProblem[], name?: string): FlotillaError {
  const subject = name === undefined ? 'policy' : `policy ${name}`;
  const lines = problems.map((problem) => `  ${problem.path}: ${problem.message}`).join('\n');
  return new FlotillaError('POLICY_INVALID', `${subject} is invalid; fix these and apply it again:\n${lines}`, {
    problems,
  });
}

/** Reads YAML or JSON text (JSON is YAML) into a plain value, within the size bound. */
function readText(text: string): unknown {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > POLICY_LIMITS.maxDocumentBytes) {
    throw invalid([
      {
        path: '(document)',
        message: `a policy is at most ${POLICY_LIMITS.maxDocumentBytes} bytes; this one is ${bytes}`,
      },
    ]);
  }
  const documents = parseAllDocuments(text, { uniqueKeys: true, logLevel: 'silent' });
  if (!Array.isArray(documents) || documents.length !== 1) {
    throw invalid([
      {
        path: '(document)',
        message: `holds ${Array.isArray(documents) ? documents.length : 0} YAML documents; a policy is exactly one (apply each policy separately)`,
      },
    ]);
  }
  const document = documents[0]!;
  const [error] = document.errors;
  if (error !== undefined) {
    const at = error.linePos?.[0];
    const where = at === undefined ? '(document)' : `(line ${at.line}, column ${at.col})`;
    throw invalid([
      { path: where, message: `does not parse as YAML or JSON: ${error.message.split('\n')[0] ?? error.code}` },
    ]);
  }
  try {
    return document.toJS({ maxAliasCount: 64 });
  } catch (cause) {
    // Deeply nested flow collections overflow the stack; aliases beyond the bound throw too.
    throw invalid([
      {
        path: '(document)',
        message:
          cause instanceof RangeError
            ? 'nests too deeply'
            : `cannot be read: ${cause instanceof Error ? cause.message : String(cause)}`,
      },
    ]);
  }
}

/**
 * Parses and validates a policy document, whole: every problem is reported at once, each
 * with the path of its field, and the scope is read as a fleet query. Accepts YAML or JSON
 * text, or an already-parsed value (an API body). The result is canonical: lists sorted
 * without duplicates, windows and freezes in object form.
 *
 * @example parsePolicy(readFileSync('payments.yaml', 'utf8'))
 * @throws FlotillaError `POLICY_INVALID` with `details: { problems: [{ path, message }] }`.
 */
export function parsePolicy(input: unknown): Policy {
  const value = typeof input === 'string' ? readText(input) : input;
  const result = Policy.safeParse(value);
  const problems = result.success ? [] : problemsOf(result.error);
  const scope = (value as { spec?: { scope?: unknown } } | null)?.spec?.scope;
  if (typeof scope === 'string' && scope.length <= POLICY_LIMITS.maxScopeLength) {
    const problem = scopeProblem(scope);
    if (problem !== undefined) problems.push({ path: 'spec.scope', message: problem });
  }
  const name = (value as { metadata?: { name?: unknown } } | null)?.metadata?.name;
  if (!result.success || problems.length > 0) throw invalid(problems, typeof name === 'string' ? name : undefined);
  return result.data;
}

function scopeProblem(scope: string): string | undefined {
  try {
    parseQuery(scope);
    return undefined;
  } catch (error) {
    if (isFlotillaError(error)) return `${error.message} in the scope query`;
    throw error;
  }
}

/** The scope of a policy that `parsePolicy` accepted, as a query tree. */
export function policyScope(policy: Pick<Policy, 'spec'>): Query {
  return parseQuery(policy.spec.scope);
}

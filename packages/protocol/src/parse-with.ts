import type { z } from 'zod';
import { FlotillaError } from './errors.ts';

/**
 * Validates a value at a boundary, turning zod's findings into one `VALIDATION_FAILED` error
 * whose message names up to five problems and whose details list up to twenty.
 *
 * @example parseWith(Bundle, document, 'release') // throws "release is invalid: version: …"
 */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues
      .slice(0, 5)
      .map((issue) => (issue.path.length === 0 ? issue.message : `${issue.path.join('.')}: ${issue.message}`));
    throw new FlotillaError('VALIDATION_FAILED', `${what} is invalid: ${problems.join('; ')}`, {
      issues: result.error.issues.slice(0, 20).map((i) => ({ path: i.path.map(String), message: i.message })),
    });
  }
  return result.data;
}

import type { AuditInput, AuditSink } from './audit-sink.ts';

/**
 * Appends one audit entry naming `subjects`, or, past `perEntry` of them, several (`part` of
 * `parts` in their details): so that every target's history shows a change made to many
 * targets at once, without any one entry growing without bound.
 */
export function appendInParts(
  audit: AuditSink,
  input: Omit<AuditInput, 'subjects'>,
  subjects: readonly string[],
  perEntry: number,
): void {
  if (subjects.length <= perEntry) {
    audit.append({ ...input, subjects });
    return;
  }
  const parts = Math.ceil(subjects.length / perEntry);
  for (let part = 0; part < parts; part++) {
    audit.append({
      ...input,
      subjects: subjects.slice(part * perEntry, (part + 1) * perEntry),
      details: { ...input.details, part: part + 1, parts },
    });
  }
}

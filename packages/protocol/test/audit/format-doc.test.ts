import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical-json.ts';
import { canonicalAuditBody, verifyAuditExport, type AuditEntry } from '../../src/audit/index.ts';

// docs/audit-format.md is what an auditor writes a verifier from: its example must stay true.
const doc = readFileSync(new URL('../../../../docs/audit-format.md', import.meta.url), 'utf8');
const example = /```jsonl\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
const exampleKey = { id: 'fe812c12f3ab4ce6', publicKey: '6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw' };

describe('the worked example of docs/audit-format.md', () => {
  it('verifies against the example hub key', () => {
    expect(verifyAuditExport(example, { trustedKeys: [exampleKey] })).toMatchObject({
      ok: true,
      entries: 2,
      elided: 2,
      checkpoints: 2,
      signedThrough: 4,
    });
  });

  it('shows the canonical body and the signed bytes exactly as computed', () => {
    const lines = example
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const { kind: _kind, ...entry1 } = lines[2]!;
    expect(doc).toContain(`\n${canonicalAuditBody(entry1 as AuditEntry)}\n`);
    expect(doc).toContain(`flotilla.io/v1/audit-checkpoint\n${canonicalize(lines[1]!.checkpoint)}\n`);
  });
});

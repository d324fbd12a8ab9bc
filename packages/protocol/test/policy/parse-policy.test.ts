import { describe, expect, it } from 'vitest';
import { Bundle } from '../../src/documents/bundle.ts';
import { digestOf } from '../../src/crypto/digest.ts';
import { policyDigest } from '../../src/policy/canonical-policy.ts';
import { diffPolicies, formatPolicyDiff } from '../../src/policy/diff-policies.ts';
import { parsePolicy } from '../../src/policy/parse-policy.ts';
import type { PolicyProblem } from '../../src/policy/parse-policy.ts';

const PAYMENTS = `
apiVersion: flotilla.io/v1
kind: Policy
metadata:
  name: acme-payments
  description: PCI tenants of Acme
spec:
  scope: tenant=acme, compliance=pci
  placement:
    allowedClasses: [payments, web, payments]
  artifacts:
    allowedRegistries: [registry.acme.example, ghcr.io/acme]
    requireDigests: true
    minSignatures: 2
    provenance:
      sourceRepositories: ["github.com/acme/*"]
      builders: ["https://github.com/actions/runner/*"]
  approvals:
    required: 2
  windows:
    allow: ["Mon-Fri 09:00-16:00"]
    freezes: ["freeze 2026-12-20 to 2027-01-04"]
`;

function problems(input: unknown): PolicyProblem[] {
  try {
    parsePolicy(input);
  } catch (error) {
    expect(error).toMatchObject({ code: 'POLICY_INVALID' });
    return (error as { details: { problems: PolicyProblem[] } }).details.problems;
  }
  throw new Error('parsePolicy accepted the document');
}

const valid = () => JSON.parse(JSON.stringify(parsePolicy(PAYMENTS))) as Record<string, any>;

describe('parsing a policy', () => {
  it('reads YAML into the canonical document: sets sorted without duplicates, short forms as objects', () => {
    const policy = parsePolicy(PAYMENTS);
    expect(policy.spec.placement).toEqual({ allowedClasses: ['payments', 'web'] });
    expect(policy.spec.artifacts?.allowedRegistries).toEqual(['ghcr.io/acme', 'registry.acme.example']);
    expect(policy.spec.windows).toEqual({
      allow: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '16:00' }],
      freezes: [{ from: '2026-12-20', to: '2027-01-04' }],
    });
  });

  it('reads the same policy from JSON text and from a parsed value', () => {
    const policy = parsePolicy(PAYMENTS);
    expect(parsePolicy(JSON.stringify(policy))).toEqual(policy);
    expect(parsePolicy(policy)).toEqual(policy);
  });

  it.each<[string, (doc: Record<string, any>) => void, string, RegExp]>([
    [
      'a scope that does not parse',
      (doc) => {
        doc.spec.scope = 'tenant=(acme';
      },
      'spec.scope',
      /column/,
    ],
    [
      'a negative approval count',
      (doc) => {
        doc.spec.approvals.required = -1;
      },
      'spec.approvals.required',
      /./,
    ],
    [
      'an unknown field',
      (doc) => {
        doc.spec.artifacts.allowedRegistrys = ['x'];
      },
      'spec.artifacts.allowedRegistrys',
      /unknown field/,
    ],
    [
      'a window in an unknown zone',
      (doc) => {
        doc.spec.windows.allow = ['Mon 09:00-10:00 Europe/Atlantis'];
      },
      'spec.windows.allow[0]',
      /IANA/,
    ],
    [
      'a window with a bad time',
      (doc) => {
        doc.spec.windows.allow = [{ days: ['mon'], start: '9am', end: '10:00' }];
      },
      'spec.windows.allow[0].start',
      /HH:MM/,
    ],
    [
      'an empty section',
      (doc) => {
        doc.spec.placement = {};
      },
      'spec.placement',
      /enforces nothing/,
    ],
    [
      'a commit that is not hex',
      (doc) => {
        doc.spec.artifacts.provenance.commits = ['main'];
      },
      'spec.artifacts.provenance.commits[0]',
      /hex/,
    ],
    [
      'a bad name',
      (doc) => {
        doc.metadata.name = 'Acme Payments';
      },
      'metadata.name',
      /lowercase/,
    ],
    [
      'a wrong kind',
      (doc) => {
        doc.kind = 'DriftPolicy';
      },
      'kind',
      /./,
    ],
    [
      'a class with capitals',
      (doc) => {
        doc.spec.placement.deniedClasses = ['GPU'];
      },
      'spec.placement.deniedClasses[0]',
      /workload class/,
    ],
  ])('names the path of %s', (_, mutate, path, message) => {
    const doc = valid();
    mutate(doc);
    expect(problems(doc)).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it('reports every problem at once', () => {
    const doc = valid();
    doc.metadata.name = 'X';
    doc.spec.approvals.required = 0;
    doc.spec.scope = '(((';
    expect(
      problems(doc)
        .map((problem) => problem.path)
        .sort(),
    ).toEqual(['metadata.name', 'spec.approvals.required', 'spec.scope']);
  });

  it.each([
    ['text that is not YAML', 'spec: [unclosed', /does not parse/],
    ['two documents in one text', `${PAYMENTS}\n---\n${PAYMENTS}`, /exactly one/],
    ['an empty text', '', /./],
    ['a duplicate key', 'apiVersion: flotilla.io/v1\napiVersion: flotilla.io/v1\n', /does not parse/],
    ['a document past the size bound', `# ${'x'.repeat(300 * 1024)}\n${PAYMENTS}`, /at most 262144 bytes/],
    ['flow collections nested deeply', `${'['.repeat(20000)}${']'.repeat(20000)}`, /./],
    [
      'an alias bomb',
      `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n`,
      /./,
    ],
  ])('refuses %s with POLICY_INVALID, never a crash', (_, text, message) => {
    expect(problems(text)[0]?.message).toMatch(message);
  });

  it('refuses a freeze that ends before it starts, at its path', () => {
    const doc = valid();
    doc.spec.windows.freezes = [{ from: '2027-01-04', to: '2026-12-20' }];
    expect(problems(doc)).toContainEqual({
      path: 'spec.windows.freezes[0].to',
      message: expect.stringMatching(/ends after/),
    });
  });
});

describe('the canonical form and diff of two versions', () => {
  it('gives two spellings of one policy the same digest, whatever their version', () => {
    const a = parsePolicy(PAYMENTS);
    const b = parsePolicy({
      ...a,
      metadata: { ...a.metadata, version: 7 },
      spec: {
        ...a.spec,
        scope: 'tenant = acme ,compliance=pci',
        windows: {
          ...a.spec.windows,
          allow: [{ days: ['fri', 'thu', 'wed', 'tue', 'mon'], start: '09:00', end: '16:00' }],
        },
      },
    });
    expect(policyDigest(b)).toBe(policyDigest(a));
    expect(diffPolicies(a, b)).toEqual([]);
  });

  it('lists what changed between two versions, set entries added and removed', () => {
    const a = parsePolicy(PAYMENTS);
    const doc = valid();
    doc.spec.approvals.required = 3;
    doc.spec.artifacts.allowedRegistries = ['ghcr.io/acme', 'quay.io/acme'];
    doc.spec.windows.allow = ['Mon-Fri 10:00-16:00'];
    delete doc.spec.placement;
    const changes = diffPolicies(a, parsePolicy(doc));
    expect(formatPolicyDiff(changes).split('\n')).toEqual([
      '~ spec.approvals.required: 2 -> 3',
      '- spec.artifacts.allowedRegistries: registry.acme.example',
      '+ spec.artifacts.allowedRegistries: quay.io/acme',
      '- spec.placement: {"allowedClasses":["payments","web"]}',
      '- spec.windows.allow: Mon-Fri 09:00-16:00',
      '+ spec.windows.allow: Mon-Fri 10:00-16:00',
    ]);
  });

  it('shows a new policy as every field added', () => {
    const changes = diffPolicies(undefined, parsePolicy(PAYMENTS));
    expect(changes).toEqual([{ path: '', change: 'added', after: expect.objectContaining({ kind: 'Policy' }) }]);
  });
});

describe('release requirements in the Bundle', () => {
  const bundle = {
    apiVersion: 'flotilla.io/v1',
    kind: 'Bundle',
    name: 'pay',
    version: '1.0.0',
    resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'pay' }, data: { a: 'b' } }],
    provenance: { source: 'github.com/acme/pay', commit: 'abc', builder: 'ci' },
    placement: { workloadClass: 'payments', capabilities: ['pci-dss'], regions: ['eu-west-1'] },
  };

  it('keeps the digest a bundle without the new fields had before they existed', () => {
    expect(digestOf(Bundle.parse(bundle))).toBe(
      'sha256:d739b09e9c0042c928e6f6474a2c60f2659eafb2d59050117aa01eb21062ff82',
    );
  });

  it('carries a minimum Kubernetes version and certifications', () => {
    const parsed = Bundle.parse({
      ...bundle,
      placement: { ...bundle.placement, minKubernetesVersion: '1.29', certifications: ['iso27001'] },
    });
    expect(parsed.placement).toMatchObject({ minKubernetesVersion: '1.29', certifications: ['iso27001'] });
    expect(() => Bundle.parse({ ...bundle, placement: { minKubernetesVersion: 'latest' } })).toThrow();
  });
});

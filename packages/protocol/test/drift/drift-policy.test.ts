import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { defaultDriftPolicy, extendDefaultDriftPolicy } from '../../src/drift/index.ts';
import { DriftPolicy, parseDriftPolicy } from '../../src/index.ts';
import { canonicalize } from '../../src/index.ts';

const docs = readFileSync(fileURLToPath(new URL('../../../../docs/drift.md', import.meta.url)), 'utf8');
const policyExamples = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)]
  .map((match) => match[1] as string)
  .filter((text) => /^rules:/m.test(text));

const rule = { id: 'r', match: {}, class: 'suspicious' };

describe('DriftPolicy', () => {
  it('ships a default policy that is valid and frozen', () => {
    expect(defaultDriftPolicy.settings).toEqual({
      gracePeriodSeconds: 120,
      allowedRegistries: [],
      honorHoldAnnotation: true,
    });
    expect(() => (defaultDriftPolicy.rules as unknown[]).push(rule)).toThrow(TypeError);
    expect(() => {
      (defaultDriftPolicy.rules[0] as { class: string }).class = 'acceptable';
    }).toThrow(TypeError);
  });

  it('is complete on the wire: parsing a parsed policy changes no byte the hub signed', () => {
    for (const policy of [defaultDriftPolicy, ...policyExamples.map((text) => parseDriftPolicy(parseYaml(text)))]) {
      expect(canonicalize(DriftPolicy.parse(JSON.parse(JSON.stringify(policy))))).toBe(canonicalize(policy));
    }
  });

  it('refuses a wire policy without its settings, which only the authoring form may leave out', () => {
    expect(DriftPolicy.safeParse({ rules: [] }).success).toBe(false);
    expect(
      DriftPolicy.safeParse({ rules: [], settings: { gracePeriodSeconds: 1, allowedRegistries: [] } }).success,
    ).toBe(false);
  });

  it('fills in default settings', () => {
    expect(parseDriftPolicy({ rules: [rule] }).settings).toEqual({
      gracePeriodSeconds: 120,
      allowedRegistries: [],
      honorHoldAnnotation: true,
    });
    expect(parseDriftPolicy({ rules: [rule], settings: { gracePeriodSeconds: 5 } }).settings).toEqual({
      gracePeriodSeconds: 5,
      allowedRegistries: [],
      honorHoldAnnotation: true,
    });
  });

  it.each([
    [
      'an unknown match condition (an old agent must not drop it)',
      { rules: [{ ...rule, match: { namespaces: ['prod'] } }] },
    ],
    ['an unknown rule key', { rules: [{ ...rule, priority: 1 }] }],
    ['an unknown setting', { rules: [], settings: { revertAll: true } }],
    ['an unknown actor condition', { rules: [{ ...rule, match: { actor: { user: 'alice' } } }] }],
    ['a rule id with capitals', { rules: [{ ...rule, id: 'Rule' }] }],
    ['two rules with one id', { rules: [rule, rule] }],
    ['an unknown class', { rules: [{ ...rule, class: 'fine' }] }],
    ['an unknown action', { rules: [{ ...rule, action: 'delete' }] }],
    ['an unknown detector', { rules: [{ ...rule, match: { detectors: ['crypto-miner'] } }] }],
    ['an empty glob list', { rules: [{ ...rule, match: { paths: [] } }] }],
    ['an empty glob', { rules: [{ ...rule, match: { kinds: [''] } }] }],
    ['an age range that never matches', { rules: [{ ...rule, match: { age: { minSeconds: 10, maxSeconds: 5 } } }] }],
    ['a grace period over a day', { rules: [], settings: { gracePeriodSeconds: 86_401 } }],
    ['no rules list', {}],
  ])('refuses %s with DRIFT_POLICY_INVALID', (_name, input) => {
    expect(() => parseDriftPolicy(input)).toThrow(
      expect.objectContaining({ code: 'DRIFT_POLICY_INVALID', details: { issues: expect.any(Array) } }),
    );
  });

  it('has at least the documented examples to check', () => {
    expect(policyExamples.length).toBeGreaterThanOrEqual(5);
  });

  it.each(policyExamples.map((text, i) => [i + 1, text]))('accepts example %i of docs/drift.md', (_i, text) => {
    expect(() => parseDriftPolicy(parseYaml(text))).not.toThrow();
  });
});

describe('extendDefaultDriftPolicy', () => {
  it('puts your rules before the default ones and keeps your settings', () => {
    const policy = extendDefaultDriftPolicy([{ id: 'mine', match: { kinds: ['ConfigMap'] }, class: 'acceptable' }], {
      gracePeriodSeconds: 30,
    });
    expect(policy.rules.map((r) => r.id)).toEqual(['mine', ...defaultDriftPolicy.rules.map((r) => r.id)]);
    expect(policy.settings.gracePeriodSeconds).toBe(30);
  });

  it('refuses a rule that reuses a default id', () => {
    expect(() => extendDefaultDriftPolicy([{ id: 'grace-period', match: {}, class: 'transient' }])).toThrow(
      expect.objectContaining({ code: 'DRIFT_POLICY_INVALID' }),
    );
  });
});

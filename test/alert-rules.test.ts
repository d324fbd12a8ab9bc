import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { promtool } from './fixtures/promtool.ts';

const RULES = fileURLToPath(new URL('../deploy/monitoring/flotilla-alerts.yaml', import.meta.url));
const RULE_TESTS = fileURLToPath(new URL('../deploy/monitoring/flotilla-alerts.test.yaml', import.meta.url));

describe('the example alerting rules in deploy/monitoring', () => {
  it('pass promtool check rules, and cover an agent not seen, a paused rollout and a stale audit checkpoint', async () => {
    const checked = await promtool(['check', 'rules', RULES]);
    expect(checked.code, checked.output).toBe(0);
    const groups = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string }[] }[] }).groups;
    expect(groups.flatMap((g) => g.rules.map((r) => r.alert))).toEqual(
      expect.arrayContaining(['FlotillaAgentsNotSeen', 'FlotillaRolloutPaused', 'FlotillaAuditCheckpointStale']),
    );
  });

  it('fire when their metrics say so, and not before (promtool test rules)', async () => {
    const tested = await promtool(['test', 'rules', RULE_TESTS]);
    expect(tested.code, tested.output).toBe(0);
  });
});

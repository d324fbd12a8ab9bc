import { describe, expect, it } from 'vitest';
import { API_VERSION, type Envelope, type Hold, type ReleaseRef } from '@flotilla/protocol';
import { decidePass, type PassDecision } from '../../src/sync/decide-pass.ts';
import type { SyncPhase } from '../../src/sync/sync-status.ts';

const WEB_1: ReleaseRef = { name: 'web', version: '1.0.0', digest: `sha256:${'1'.repeat(64)}` };
const WEB_2: ReleaseRef = { name: 'web', version: '2.0.0', digest: `sha256:${'2'.repeat(64)}` };
const HOLD: Hold = { id: 'inc_7', reason: 'incident 7 is open', since: '2025-03-01T13:00:00.000Z' };

function envelope(
  generation: number,
  bundles: ReleaseRef[],
  holds: Hold[] = [],
  issuedAt = '2025-03-01T12:00:00.000Z',
): Envelope {
  return {
    apiVersion: API_VERSION,
    kind: 'Envelope',
    targetId: `tgt_${'0'.repeat(20)}`,
    generation,
    bundles: bundles.map((ref) => ({ ...ref, size: 100 })),
    holds,
    trustRootVersion: 1,
    issuedAt,
    expiresAt: '2025-03-08T12:00:00.000Z',
  };
}

const applied = envelope(4, [WEB_1]);
const reSigned = envelope(4, [WEB_1], [], '2025-03-02T12:00:00.000Z');
const newHolds = envelope(5, [WEB_1], [HOLD]);
const newRelease = envelope(5, [WEB_2]);

describe('deciding a sync pass', () => {
  it.each<[string, PassDecision, Envelope | undefined, Envelope, SyncPhase]>([
    ['nothing applied yet', 'apply', undefined, applied, 'starting'],
    ['nothing applied yet, even after a stall', 'apply', undefined, applied, 'stalled'],
    ['nothing applied yet while idle', 'apply', undefined, applied, 'idle'],
    ['the state in place, signed again', 're-sign-only', applied, reSigned, 'applied'],
    ['the same state after a restart, before any pass proved it', 'rules-only', applied, reSigned, 'starting'],
    ['the same state after a refused envelope', 'rules-only', applied, reSigned, 'stalled'],
    ['the same state after a failed apply of other releases', 'apply', applied, reSigned, 'failed'],
    ['a new generation of the same releases (holds changed)', 'rules-only', applied, newHolds, 'applied'],
    ['a new generation of the same releases after a restart', 'rules-only', applied, newHolds, 'starting'],
    ['the releases in place again after a failed apply of others', 'apply', applied, newHolds, 'failed'],
    ['new releases', 'apply', applied, newRelease, 'applied'],
    ['new releases after a refused envelope', 'apply', applied, newRelease, 'stalled'],
  ])('%s: %s', (_situation, expected, last, next, phase) => {
    expect(decidePass(last, next, phase)).toBe(expected);
  });

  it('reads the same releases in any key order as the same', () => {
    const reordered = envelope(5, [{ digest: WEB_1.digest, version: WEB_1.version, name: WEB_1.name }]);
    expect(decidePass(applied, reordered, 'applied')).toBe('rules-only');
  });

  it('applies when a release is added beside the ones in place', () => {
    expect(decidePass(applied, envelope(5, [WEB_1, WEB_2]), 'applied')).toBe('apply');
  });
});

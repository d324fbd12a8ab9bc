import { describe, expect, it } from 'vitest';
import { Facts, Properties, ReleaseRef } from '../../src/index.ts';

const NUL = '\u0000';
const DIGEST = `sha256:${'a'.repeat(64)}`;

/**
 * PostgreSQL text cannot hold U+0000, and SQLite would; the hub stores the same on either, so
 * the values it keeps as text refuse the character where they enter, naming it.
 */
describe('text the hub stores and indexes', () => {
  it('refuses a property value holding U+0000', () => {
    const result = Properties.safeParse({ region: `eu${NUL}west` });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/NUL character \(U\+0000\)/);
  });

  it('refuses reported facts holding U+0000, named or driver-defined', () => {
    expect(Facts.safeParse({ kubernetesVersion: `v1.30${NUL}` }).success).toBe(false);
    expect(Facts.safeParse({ kubeletVersions: [`v1.30${NUL}`] }).success).toBe(false);
    expect(Facts.safeParse({ capabilities: { [`gpu${NUL}`]: true } }).success).toBe(false);
    expect(Facts.safeParse({ zone: `a${NUL}` }).success).toBe(false);
    expect(Facts.safeParse({ extra: { nested: [`x${NUL}`] } }).success).toBe(false);
  });

  it('refuses a release version holding U+0000', () => {
    expect(ReleaseRef.safeParse({ name: 'web', version: `1.0${NUL}`, digest: DIGEST }).success).toBe(false);
  });

  it('still takes every other character, tabs, newlines and emoji included', () => {
    expect(Properties.safeParse({ note: 'a\tb\nc 🚢' }).success).toBe(true);
    expect(Facts.safeParse({ hostname: 'edge-1', zone: 'b\u0001', extra: { list: ['ok'] } }).success).toBe(true);
  });
});

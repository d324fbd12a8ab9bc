import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { generateKeyPair, KeyPair, ReleaseRef, SignedEnvelope, SignedTrustRoot, TargetId } from '@flotilla/protocol';
import { readJsonFile, writeJsonAtomic } from './state-files.ts';

export const Enrollment = z.object({
  targetId: TargetId,
  name: z.string(),
  hubId: z.string(),
  audience: z.string(),
});
export type Enrollment = z.infer<typeof Enrollment>;

export const SyncState = z.object({
  /** The generation in place on the target; lower ones are refused as rollbacks. */
  appliedGeneration: z.number().int().min(0),
  appliedEnvelope: SignedEnvelope.nullable(),
  appliedReleases: z.array(ReleaseRef),
  /** The next report sequence number; never reused, even across restarts. */
  nextSeq: z.number().int().min(1),
});
export type SyncState = z.infer<typeof SyncState>;

/**
 * Everything the agent keeps across restarts, in its state directory: its key pair (mode
 * 0600, never sent anywhere), its enrollment, the trust root it pins, and what it applied.
 */
export class AgentState {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  private path(name: string): string {
    return join(this.dir, name);
  }

  /** The agent's key pair, made on first start. */
  keyPair(): KeyPair {
    const existing = readJsonFile(this.path('agent-key.json'), KeyPair);
    if (existing !== undefined) return existing;
    const key = generateKeyPair();
    writeJsonAtomic(this.path('agent-key.json'), key);
    return key;
  }

  enrollment(): Enrollment | undefined {
    return readJsonFile(this.path('enrollment.json'), Enrollment);
  }

  saveEnrollment(enrollment: Enrollment): void {
    writeJsonAtomic(this.path('enrollment.json'), enrollment);
  }

  trustRoot(): SignedTrustRoot | undefined {
    return readJsonFile(this.path('trust-root.json'), SignedTrustRoot);
  }

  saveTrustRoot(signed: SignedTrustRoot): void {
    writeJsonAtomic(this.path('trust-root.json'), signed);
  }

  sync(): SyncState {
    return readJsonFile(this.path('sync.json'), SyncState) ?? { appliedGeneration: 0, appliedEnvelope: null, appliedReleases: [], nextSeq: 1 };
  }

  saveSync(state: SyncState): void {
    writeJsonAtomic(this.path('sync.json'), state);
  }

  hasKey(): boolean {
    return existsSync(this.path('agent-key.json'));
  }
}

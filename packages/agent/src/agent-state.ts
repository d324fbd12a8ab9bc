import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { z } from 'zod';
import {
  FlotillaError,
  generateKeyPair,
  isFlotillaError,
  KeyPair,
  ReleaseRef,
  SignedEnvelope,
  SignedTrustRoot,
  TargetId,
  Timestamp,
} from '@flotilla/protocol';
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
  /** Kept for state files written by earlier versions; report numbers come from `nextReportSeq`. */
  nextSeq: z.number().int().min(1),
  /**
   * The intent record of an apply in progress, saved (durably) before the driver writes
   * anything and cleared once the whole apply is in place. Found at start, it says an apply was
   * cut short: the target may hold part of that release, so the next envelope is applied in
   * full (and the driver's inventory prunes what the torn apply left), whatever it asks for.
   */
  applying: z
    .object({ generation: z.number().int().min(0), releases: z.array(ReleaseRef), startedAt: z.string() })
    .optional(),
  /** The newest `issuedAt` of a verified envelope: expiry is never judged at an earlier time (sync/time-floor.ts). */
  timeFloor: Timestamp.optional(),
  /** The newest signed policy set accepted: an older one is refused as a replay (docs/policy.md). */
  policySet: z.object({ version: z.number().int().min(1), digest: z.string() }).optional(),
});
export type SyncState = z.infer<typeof SyncState>;

/**
 * Where the agent's key rotation stands (key-rotation.ts). `pending` is the new key pair while
 * the hub has not yet confirmed it: kept before the request is sent, so that an agent that dies
 * half-way can finish the rotation with the same key.
 */
export const KeyRotationState = z.object({
  /** Since when the current key pair is in use: the schedule counts from here. */
  keySince: Timestamp,
  pending: KeyPair.nullable(),
  /** An operator asked for a rotation (`flotilla-agent rotate-key`); done at the next turn. */
  requested: z.boolean(),
});
export type KeyRotationState = z.infer<typeof KeyRotationState>;

export const EMPTY_SYNC_STATE: SyncState = {
  appliedGeneration: 0,
  appliedEnvelope: null,
  appliedReleases: [],
  nextSeq: 1,
};

/**
 * Where an agent keeps what makes it one target across restarts: its key pair, its
 * enrollment, the trust root it pins, what it applied, and the report numbers it has used.
 *
 * Two places implement it: `FileAgentStore`, a state directory, for an agent that runs alone
 * (an edge host, the manifests-dir driver); and `SecretAgentStore`, a Kubernetes Secret, so that
 * every pod of an agent DaemonSet acts as the same target. Whatever the store, `dir` is a local
 * folder for the report journal and the bundle cache, which need not outlive the process.
 */
export interface AgentStore {
  /** A local folder for the report journal and the bundle cache. */
  readonly dir: string;
  /** Where the identity lives, for messages: `state directory /var/lib/x`, `Secret ns/name`. */
  readonly location: string;
  /** The agent's key pair, made (and stored) on the first call ever. */
  keyPair(): Promise<KeyPair>;
  enrollment(): Promise<Enrollment | undefined>;
  saveEnrollment(enrollment: Enrollment): Promise<void>;
  trustRoot(): Promise<SignedTrustRoot | undefined>;
  saveTrustRoot(signed: SignedTrustRoot): Promise<void>;
  sync(): Promise<SyncState>;
  saveSync(state: SyncState): Promise<void>;
  /** The next report sequence number: never handed out before for this identity. */
  nextReportSeq(): Promise<number>;
  /**
   * Makes every report number handed out from now on greater than `seq`, the last the hub
   * holds. True when the numbering this identity kept was not past it: its state went back in
   * time (restored from an older copy) and reports were numbered twice.
   */
  advanceReportSeq(seq: number): Promise<boolean>;
  keyRotation(): Promise<KeyRotationState | undefined>;
  saveKeyRotation(state: KeyRotationState): Promise<void>;
  /**
   * Makes `key` the agent's key pair and records `state`. A store that cannot write both at once
   * writes the key first: a rotation state whose pending key is the current key is finished.
   */
  commitKey(key: KeyPair, state: KeyRotationState): Promise<void>;
}

/**
 * The error a shared store throws when another agent wrote the same part of the identity
 * meanwhile: this agent is no longer the only writer, probably no longer the leader.
 */
export function identityConflict(location: string, keys: readonly string[]): FlotillaError {
  return new FlotillaError(
    'CONFLICT',
    `another agent changed ${keys.join(', ') || 'the identity'} in the ${location} while this one was writing it; this agent is probably no longer the leader`,
    { identityStore: location, keys: [...keys] },
  );
}

/** True for the error of `identityConflict`. */
export function isIdentityConflict(error: unknown): boolean {
  return isFlotillaError(error, 'CONFLICT') && typeof error.details?.['identityStore'] === 'string';
}

const SeqFile = z.object({ nextSeq: z.number().int().min(1) });

/**
 * An agent's state in a directory: its key pair (`agent-key.json`, mode 0600, never sent
 * anywhere), its enrollment, the trust root it pins, what it applied (`sync.json`), and the
 * report counter (`journal/seq.json`).
 */
export class FileAgentStore implements AgentStore {
  readonly dir: string;
  readonly location: string;

  constructor(dir: string) {
    if (typeof dir !== 'string' || dir === '')
      throw new TypeError(`FileAgentStore: expected a state directory, received ${JSON.stringify(dir)}`);
    this.dir = dir;
    this.location = `state directory ${dir}`;
  }

  private path(name: string): string {
    return join(this.dir, name);
  }

  async keyPair(): Promise<KeyPair> {
    const existing = readJsonFile(this.path('agent-key.json'), KeyPair);
    if (existing !== undefined) return existing;
    const key = generateKeyPair();
    writeJsonAtomic(this.path('agent-key.json'), key);
    return key;
  }

  async enrollment(): Promise<Enrollment | undefined> {
    return readJsonFile(this.path('enrollment.json'), Enrollment);
  }

  async saveEnrollment(enrollment: Enrollment): Promise<void> {
    writeJsonAtomic(this.path('enrollment.json'), enrollment);
  }

  async trustRoot(): Promise<SignedTrustRoot | undefined> {
    return readJsonFile(this.path('trust-root.json'), SignedTrustRoot);
  }

  async saveTrustRoot(signed: SignedTrustRoot): Promise<void> {
    writeJsonAtomic(this.path('trust-root.json'), signed);
  }

  async sync(): Promise<SyncState> {
    return readJsonFile(this.path('sync.json'), SyncState) ?? EMPTY_SYNC_STATE;
  }

  async saveSync(state: SyncState): Promise<void> {
    writeJsonAtomic(this.path('sync.json'), state);
  }

  async nextReportSeq(): Promise<number> {
    const path = this.seqPath();
    const seq = readJsonFile(path, SeqFile)?.nextSeq ?? 1;
    writeJsonAtomic(path, { nextSeq: seq + 1 });
    return seq;
  }

  async advanceReportSeq(seq: number): Promise<boolean> {
    const path = this.seqPath();
    if ((readJsonFile(path, SeqFile)?.nextSeq ?? 1) > seq) return false;
    writeJsonAtomic(path, { nextSeq: seq + 1 });
    return true;
  }

  private seqPath(): string {
    return join(this.dir, 'journal', 'seq.json');
  }

  async keyRotation(): Promise<KeyRotationState | undefined> {
    return readJsonFile(this.path('key-rotation.json'), KeyRotationState);
  }

  async saveKeyRotation(state: KeyRotationState): Promise<void> {
    writeJsonAtomic(this.path('key-rotation.json'), state);
  }

  async commitKey(key: KeyPair, state: KeyRotationState): Promise<void> {
    writeJsonAtomic(this.path('agent-key.json'), key);
    writeJsonAtomic(this.path('key-rotation.json'), state);
  }

  hasKey(): boolean {
    return existsSync(this.path('agent-key.json'));
  }
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import {
  API_VERSION,
  generateKeyPair,
  sha256,
  signBundle,
  signPayload,
  type Health,
  type KeyPair,
  type ReleaseRef,
  type Report,
  type ReportPhase,
  type Resource,
} from '@flotilla/protocol';
import { createHub, type Hub, type HubServices } from '../../../src/hub.ts';
import { openDatabase } from '../../../src/store/database.ts';
import { openPostgres } from '../../../src/store/postgres/postgres-database.ts';
import { testHubDatabase } from '../../store-kinds.ts';
import { AuditLog } from '../../../src/features/audit/audit-log.ts';
import type { CreateRolloutRequest, RolloutView } from '@flotilla/protocol/api';

export const OPERATOR = { kind: 'user' as const, tokenId: 'test', name: 'alice', role: 'admin' as const };
export const ALICE = { kind: 'user' as const, id: 'alice' };

/** A target enrolled at the protocol level, whose reports the test writes. */
export interface SimTarget {
  readonly id: string;
  readonly name: string;
  readonly key: KeyPair;
  seq: number;
}

export interface ReportOptions {
  readonly phase?: ReportPhase;
  readonly health?: Health;
  /** Defaults to the generation the target should run now. */
  readonly generation?: number;
  /** Defaults to the releases the target should run now. */
  readonly bundles?: ReleaseRef[];
}

interface FixtureOptions {
  readonly issueBatch?: number;
  readonly enlistSlice?: number;
  readonly turnBudgetMs?: number;
}

/** A turn's budget no test's work spends. */
const WHOLE_TURN_MS = 600_000;

/**
 * A real hub (SQLite file, or a fresh PostgreSQL database with FLOTILLA_TEST_STORE=postgres;
 * real services, real audit log) whose clock the test moves and
 * whose rollout controller runs only when the test calls `reconcile` — no timers, no sleeps.
 */
export class RolloutHub {
  hub!: Hub;
  now = Date.parse('2025-06-01T09:00:00Z');
  readonly dir = mkdtempSync(join(tmpdir(), 'flotilla-rollout-test-'));
  private readonly database = testHubDatabase();
  readonly release = generateKeyPair();
  private readonly hubKeys = { hub: generateKeyPair(), root: generateKeyPair() };
  private enrollToken = '';
  private names = 0;
  private closed = true;
  private readonly issueBatch: number | undefined;
  private readonly enlistSlice: number | undefined;
  private readonly turnBudgetMs: number;

  private constructor(options: FixtureOptions) {
    this.issueBatch = options.issueBatch;
    this.enlistSlice = options.enlistSlice;
    this.turnBudgetMs = options.turnBudgetMs ?? WHOLE_TURN_MS;
  }

  /**
   * `issueBatch`: the most envelopes one batch of a wave issues; `enlistSlice`: the most members
   * one step records (the hub's defaults otherwise); `turnBudgetMs`: what the hub's sliced work
   * may take of a turn (default: more than any test's, so that slices per turn do not depend on
   * the machine's speed).
   */
  static async open(options: FixtureOptions = {}): Promise<RolloutHub> {
    const fixture = new RolloutHub(options);
    try {
      await fixture.start();
    } catch (error) {
      await fixture.close();
      throw error;
    }
    fixture.services.trust.addReleaseKey(fixture.release.publicKey, 'test', ALICE);
    fixture.enrollToken = fixture.services.identity.createEnrollmentToken(
      { ttlSeconds: 365 * 86_400, maxUses: 100_000, labels: {} },
      OPERATOR,
    ).token!;
    return fixture;
  }

  get services(): HubServices {
    return this.hub.services;
  }

  private async start(): Promise<void> {
    const db =
      this.database.url === undefined ? openDatabase(join(this.dir, 'hub.db')) : openPostgres(this.database.url);
    const clock = (): number => this.now;
    const hub = await createHub({
      db,
      log: pino({ level: 'silent' }),
      keys: this.hubKeys,
      clock,
      audit: (database) => new AuditLog({ db: database, clock, signer: this.hubKeys.hub }),
      checkpointIntervalMs: 0,
      rolloutPollMs: 0,
      ...(this.issueBatch === undefined ? {} : { rolloutIssueBatch: this.issueBatch }),
      ...(this.enlistSlice === undefined ? {} : { rolloutEnlistSlice: this.enlistSlice }),
      turnBudgetMs: this.turnBudgetMs,
    }).catch((error: unknown) => {
      db.close();
      throw error;
    });
    const close = hub.close.bind(hub);
    this.hub = {
      ...hub,
      close: async () => {
        await close();
        db.close();
      },
    };
    this.closed = false;
  }

  /** Stops the hub and opens it again on the same database: what a restart leaves. */
  async restart(): Promise<void> {
    await this.hub.close();
    await this.start();
  }

  advance(ms: number): void {
    this.now += ms;
  }

  publish(
    name: string,
    version: string,
    resources: Resource[] = [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { version } },
    ],
  ): ReleaseRef {
    const signed = signBundle({ apiVersion: API_VERSION, kind: 'Bundle', name, version, resources }, [this.release]);
    this.services.bundles.publish(signed, OPERATOR);
    return { name, version, digest: signed.digest };
  }

  /** Enrolls a target; labels are set after enrollment, as an operator would. */
  enroll(labels: Record<string, string> = {}, name = `site-${++this.names}`): SimTarget {
    const key = generateKeyPair();
    const issuedAt = new Date(this.now).toISOString();
    const proof = signPayload(
      'enroll',
      { publicKey: key.publicKey, tokenDigest: sha256(this.enrollToken), issuedAt },
      key,
    );
    const { targetId } = this.services.identity.enroll(
      { token: this.enrollToken, publicKey: key.publicKey, name, issuedAt, proof },
      'test',
    );
    if (Object.keys(labels).length > 0) this.services.targets.editMetadata(targetId, 'labels', labels, [], ALICE);
    return { id: targetId, name, key, seq: 0 };
  }

  fleet(n: number, labels: Record<string, string> = {}): SimTarget[] {
    return Array.from({ length: n }, () => this.enroll(labels));
  }

  /** The target's agent reports, signed with its key: by default the current desired state, applied and healthy. */
  report(target: SimTarget, options: ReportOptions = {}): void {
    const desired = this.services.targets.get(target.id).desired;
    const report: Report = {
      apiVersion: API_VERSION,
      kind: 'Report',
      targetId: target.id,
      seq: ++target.seq,
      generation: options.generation ?? desired.generation,
      phase: options.phase ?? 'applied',
      health: options.health ?? 'healthy',
      bundles: options.bundles ?? desired.bundles,
      resources: [],
      facts: {},
      observedAt: new Date(this.now).toISOString(),
    };
    this.services.reports.accept(target.id, { report, signature: signPayload('report', report, target.key) });
  }

  /** Every target reports its current desired state: failed for those in `failing`, else applied and healthy. */
  converge(targets: readonly SimTarget[], failing: ReadonlySet<string> = new Set()): void {
    for (const target of targets)
      this.report(target, failing.has(target.id) ? { phase: 'failed', health: 'degraded' } : {});
  }

  /** One controller pass, then every envelope it (or an earlier step) left to issue, as the hub's background batches would. */
  reconcile(): void {
    this.services.rollouts.controller.reconcileAll();
    this.issue();
  }

  /** Issues the envelopes of every member waiting for one, now. */
  issue(): number {
    return this.services.rollouts.controller.issuer.drain();
  }

  /**
   * Creates a rollout, then takes the steps the hub takes right after answering and issues the
   * first wave's envelopes, as its background batches would.
   */
  create(request: Partial<CreateRolloutRequest> & { release: string }): RolloutView {
    const rollout = this.services.rollouts.create({ selector: '', ...request }, ALICE).rollout;
    this.services.rollouts.controller.reconcile(rollout.id);
    this.issue();
    return rollout;
  }

  view(id: string): RolloutView {
    return this.services.rollouts.view(id, 'all', 100_000);
  }

  /** The release of `name` the target should run, as `name@version`, or undefined. */
  desired(target: SimTarget, name: string): string | undefined {
    const found = this.services.targets.get(target.id).desired.bundles.find((b) => b.name === name);
    return found === undefined ? undefined : `${found.name}@${found.version}`;
  }

  generation(target: SimTarget): number {
    return this.services.targets.get(target.id).desired.generation;
  }

  /** Audit entries with this action, oldest first. */
  audits(action: string): {
    actor: { kind: string; id: string };
    subjects: string[];
    details: Record<string, unknown>;
    reason: string | null;
  }[] {
    return this.services.audit.query({ action }, { limit: 1000, order: 'asc' }).entries;
  }

  async close(): Promise<void> {
    if (!this.closed) await this.hub.close();
    this.closed = true;
    this.database.drop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

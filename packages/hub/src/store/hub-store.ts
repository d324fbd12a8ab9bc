import { FleetIndex, type FleetIndexColumns } from '../features/targets/fleet-index.ts';
import { targetFieldRowParams, targetFieldsSql } from '../features/targets/target-fields-store.ts';
import { type Actor, type Facts, type Labels, type Properties, type ReleaseRef, type SignedBundle, type SignedEnvelope, type SignedTrustRoot, type Target, type TargetDrift, type TargetStatus } from '@flotilla/protocol';
import { targetFieldRows, type TargetFieldRow } from '@flotilla/protocol/query';
import type { Db } from './database.ts';

export interface TargetRow {
  id: string;
  name: string;
  status: TargetStatus;
  public_key: string;
  key_id: string;
  labels: string;
  properties: string;
  facts: string;
  desired_generation: number;
  desired_bundles: string;
  envelope: string | null;
  observed: string | null;
  observed_seq: number;
  enrolled_at: number;
  last_seen_at: number | null;
  last_changed_at: number;
  last_changed_by: string;
  /** TargetDrift JSON (migration 005), or NULL before the first drift report. */
  drift?: string | null;
}

export interface EnrollmentTokenRow {
  id: string;
  token_hash: string;
  labels: string;
  description: string | null;
  max_uses: number;
  uses: number;
  expires_at: number;
  created_at: number;
  created_by: string;
}

export interface ApiTokenRow {
  id: string;
  name: string;
  token_hash: string;
  role: 'viewer' | 'deployer' | 'approver' | 'admin';
  selector: string | null;
  created_at: number;
  revoked_at: number | null;
}

export interface NewTarget {
  id: string;
  name: string;
  publicKey: string;
  keyId: string;
  labels: Labels;
  enrolledAt: number;
  actor: Actor;
}

const iso = (ms: number): string => new Date(ms).toISOString();

type IndexTargetRow = Pick<TargetRow, 'id' | 'name' | 'status' | 'last_seen_at' | 'last_changed_at' | 'enrolled_at'>;

function indexColumns(row: IndexTargetRow): FleetIndexColumns {
  return { id: row.id, name: row.name, status: row.status, lastSeen: row.last_seen_at, lastChanged: row.last_changed_at, enrolled: row.enrolled_at };
}

/** The Target document of a row. */
export function targetFromRow(row: TargetRow): Target {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    labels: JSON.parse(row.labels) as Labels,
    properties: JSON.parse(row.properties) as Properties,
    facts: JSON.parse(row.facts) as Facts,
    keyId: row.key_id,
    desired: { generation: row.desired_generation, bundles: JSON.parse(row.desired_bundles) as ReleaseRef[] },
    observed: row.observed === null ? null : (JSON.parse(row.observed) as Target['observed']),
    ...(row.drift === null || row.drift === undefined ? {} : { drift: JSON.parse(row.drift) as TargetDrift }),
    enrolledAt: iso(row.enrolled_at),
    lastSeenAt: row.last_seen_at === null ? null : iso(row.last_seen_at),
    lastChangedAt: iso(row.last_changed_at),
    lastChangedBy: JSON.parse(row.last_changed_by) as Actor,
  };
}

/**
 * Every SQL statement of the hub's core, prepared once. Services call these inside their own
 * transactions (`store.transaction(fn)`), so a change and its audit entry commit together.
 */
export class HubStore {
  readonly db: Db;
  private readonly s;
  /** Every field name that some target has had: what the query language calls known. */
  private fieldNames: Set<string> | undefined;
  /** The fleet query's in-memory index, built on first use and written through after. */
  private index: FleetIndex | undefined;
  /** Targets written since the index last caught up; applied once their transaction is over. */
  private readonly unindexed = new Set<string>();

  constructor(db: Db) {
    this.db = db;
    this.s = {
      metaGet: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      metaSet: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      trustRootInsert: db.prepare('INSERT INTO trust_roots (version, signed) VALUES (?, ?)'),
      trustRootLatest: db.prepare<[], { signed: string }>('SELECT signed FROM trust_roots ORDER BY version DESC LIMIT 1'),
      trustRootGet: db.prepare<[number], { signed: string }>('SELECT signed FROM trust_roots WHERE version = ?'),
      apiTokenInsert: db.prepare('INSERT INTO api_tokens (id, name, token_hash, role, selector, created_at) VALUES (@id, @name, @token_hash, @role, @selector, @created_at)'),
      apiTokenByHash: db.prepare<[string], ApiTokenRow>('SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL'),
      apiTokenCount: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM api_tokens'),
      enrollInsert: db.prepare('INSERT INTO enrollment_tokens (id, token_hash, labels, description, max_uses, expires_at, created_at, created_by) VALUES (@id, @token_hash, @labels, @description, @max_uses, @expires_at, @created_at, @created_by)'),
      enrollByHash: db.prepare<[string], EnrollmentTokenRow>('SELECT * FROM enrollment_tokens WHERE token_hash = ?'),
      enrollUse: db.prepare<[string]>('UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ? AND uses < max_uses'),
      enrollList: db.prepare<[], EnrollmentTokenRow>('SELECT * FROM enrollment_tokens ORDER BY created_at DESC'),
      targetInsert: db.prepare(`INSERT INTO targets (id, name, status, public_key, key_id, labels, enrolled_at, last_changed_at, last_changed_by)
        VALUES (@id, @name, 'active', @publicKey, @keyId, @labels, @enrolledAt, @enrolledAt, @actor)`),
      targetGet: db.prepare<[string], TargetRow>('SELECT * FROM targets WHERE id = ?'),
      targetByKey: db.prepare<[string], TargetRow>('SELECT * FROM targets WHERE public_key = ?'),
      targetNameTaken: db.prepare<[string], { id: string }>('SELECT id FROM targets WHERE name = ?'),
      targetSetDesired: db.prepare('UPDATE targets SET desired_generation = @generation, desired_bundles = @bundles, envelope = @envelope, last_changed_at = @at, last_changed_by = @actor WHERE id = @id'),
      targetSetEnvelope: db.prepare('UPDATE targets SET envelope = @envelope WHERE id = @id'),
      targetSetObserved: db.prepare('UPDATE targets SET observed = @observed, observed_seq = @seq, facts = @facts, last_seen_at = max(coalesce(last_seen_at, 0), @at) WHERE id = @id'),
      targetSetDrift: db.prepare('UPDATE targets SET drift = @drift WHERE id = @id'),
      targetSeen: db.prepare('UPDATE targets SET last_seen_at = max(coalesce(last_seen_at, 0), @at) WHERE id = @id'),
      targetSetStatus: db.prepare('UPDATE targets SET status = @status, last_changed_at = @at, last_changed_by = @actor WHERE id = @id'),
      targetSetMeta: db.prepare('UPDATE targets SET labels = @labels, properties = @properties, last_changed_at = @at, last_changed_by = @actor WHERE id = @id'),
      targetPage: db.prepare<[string, number], TargetRow>('SELECT * FROM targets WHERE id > ? ORDER BY id LIMIT ?'),
      targetCount: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM targets'),
      jtiInsert: db.prepare('INSERT OR IGNORE INTO used_jtis (jti, expires_at) VALUES (?, ?)'),
      jtiPrune: db.prepare('DELETE FROM used_jtis WHERE expires_at < ?'),
      bundleInsert: db.prepare('INSERT INTO bundles (digest, name, version, signed, created_at, created_by) VALUES (@digest, @name, @version, @signed, @createdAt, @createdBy)'),
      bundleGet: db.prepare<[string], { signed: string }>('SELECT signed FROM bundles WHERE digest = ?'),
      bundleByVersion: db.prepare<[string, string], { digest: string; signed: string }>('SELECT digest, signed FROM bundles WHERE name = ? AND version = ?'),
      bundleList: db.prepare<[], { digest: string; name: string; version: string; created_at: number; created_by: string }>('SELECT digest, name, version, created_at, created_by FROM bundles ORDER BY name, created_at'),
      reportInsert: db.prepare('INSERT OR IGNORE INTO reports (target_id, seq, generation, received_at, signed) VALUES (@targetId, @seq, @generation, @receivedAt, @signed)'),
      reportGet: db.prepare<[string, number], { signed: string }>('SELECT signed FROM reports WHERE target_id = ? AND seq = ?'),
      fieldsDelete: db.prepare(targetFieldsSql.delete),
      fieldsDeleteOne: db.prepare<[string, string]>('DELETE FROM target_fields WHERE target_id = ? AND field = ?'),
      fieldsInsert: db.prepare(targetFieldsSql.insert),
      fieldNames: db.prepare<[], { field: string }>('SELECT DISTINCT field FROM target_fields'),
      indexTargets: db.prepare<[], IndexTargetRow>('SELECT id, name, status, last_seen_at, last_changed_at, enrolled_at FROM targets'),
      indexFields: db.prepare<[], { target_id: string; field: string; text: string; num: number | null; version: string | null; time: number | null }>(
        'SELECT target_id, field, text_value AS text, num_value AS num, version_key AS version, time_value AS time FROM target_fields ORDER BY target_id',
      ),
    };
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  getMeta(key: string): string | undefined {
    return this.s.metaGet.get(key)?.value;
  }

  setMeta(key: string, value: string): void {
    this.s.metaSet.run(key, value);
  }

  insertTrustRoot(signed: SignedTrustRoot): void {
    this.s.trustRootInsert.run(signed.trustRoot.version, JSON.stringify(signed));
  }

  latestTrustRoot(): SignedTrustRoot | undefined {
    const row = this.s.trustRootLatest.get();
    return row === undefined ? undefined : (JSON.parse(row.signed) as SignedTrustRoot);
  }

  trustRoot(version: number): SignedTrustRoot | undefined {
    const row = this.s.trustRootGet.get(version);
    return row === undefined ? undefined : (JSON.parse(row.signed) as SignedTrustRoot);
  }

  insertApiToken(row: Omit<ApiTokenRow, 'revoked_at'>): void {
    this.s.apiTokenInsert.run(row);
  }

  apiTokenByHash(hash: string): ApiTokenRow | undefined {
    return this.s.apiTokenByHash.get(hash);
  }

  apiTokenCount(): number {
    return this.s.apiTokenCount.get()!.n;
  }

  insertEnrollmentToken(row: Omit<EnrollmentTokenRow, 'uses'>): void {
    this.s.enrollInsert.run(row);
  }

  enrollmentTokenByHash(hash: string): EnrollmentTokenRow | undefined {
    return this.s.enrollByHash.get(hash);
  }

  enrollmentTokens(): EnrollmentTokenRow[] {
    return this.s.enrollList.all();
  }

  /** Counts one use; false when the token was used up meanwhile. */
  useEnrollmentToken(id: string): boolean {
    return this.s.enrollUse.run(id).changes === 1;
  }

  insertTarget(target: NewTarget): void {
    this.transaction(() => {
      this.s.targetInsert.run({ ...target, labels: JSON.stringify(target.labels), actor: JSON.stringify(target.actor) });
      this.refreshFields(target.id);
    });
  }

  targetRow(id: string): TargetRow | undefined {
    return this.s.targetGet.get(id);
  }

  targetRowByPublicKey(publicKey: string): TargetRow | undefined {
    return this.s.targetByKey.get(publicKey);
  }

  isNameTaken(name: string): boolean {
    return this.s.targetNameTaken.get(name) !== undefined;
  }

  setDesired(id: string, generation: number, bundles: readonly ReleaseRef[], envelope: SignedEnvelope, at: number, actor: Actor): void {
    this.transaction(() => {
      this.s.targetSetDesired.run({ id, generation, bundles: JSON.stringify(bundles), envelope: JSON.stringify(envelope), at, actor: JSON.stringify(actor) });
      this.refreshFields(id);
    });
  }

  /** Replaces the envelope without changing desired state: a re-signature before expiry. */
  setEnvelope(id: string, envelope: SignedEnvelope): void {
    this.s.targetSetEnvelope.run({ id, envelope: JSON.stringify(envelope) });
  }

  setObserved(id: string, observed: NonNullable<Target['observed']>, facts: Facts, at: number): void {
    this.transaction(() => {
      this.s.targetSetObserved.run({ id, observed: JSON.stringify(observed), seq: observed.seq, facts: JSON.stringify(facts), at });
      this.refreshFields(id);
    });
  }

  /**
   * Replaces the target's drift summary and its `drift` rows of the query index, the only
   * rows the summary feeds: it follows every report, right after the observed state wrote
   * the target's other rows.
   */
  setDriftSummary(id: string, drift: TargetDrift | null): void {
    this.transaction(() => {
      this.s.targetSetDrift.run({ id, drift: drift === null ? null : JSON.stringify(drift) });
      this.refreshFields(id, 'drift');
    });
  }

  markSeen(seen: ReadonlyMap<string, number>): void {
    this.transaction(() => {
      for (const [id, at] of seen) this.s.targetSeen.run({ id, at });
    });
    if (this.index === undefined) return;
    for (const [id, at] of seen) {
      const columns = this.index.columnsOf(id);
      if (columns !== undefined) this.index.setColumns({ ...columns, lastSeen: Math.max(columns.lastSeen ?? 0, at) });
    }
  }

  setStatus(id: string, status: TargetStatus, at: number, actor: Actor): void {
    this.transaction(() => {
      this.s.targetSetStatus.run({ id, status, at, actor: JSON.stringify(actor) });
      this.refreshFields(id);
    });
  }

  setLabelsAndProperties(id: string, labels: Labels, properties: Properties, at: number, actor: Actor): void {
    this.transaction(() => {
      this.s.targetSetMeta.run({ id, labels: JSON.stringify(labels), properties: JSON.stringify(properties), at, actor: JSON.stringify(actor) });
      this.refreshFields(id);
    });
  }

  /**
   * Rewrites the target's rows of the query index (or only those of field `only`) from its record. Every writer of a target
   * calls it inside the same transaction, so queries never see the record and its index
   * disagree. Heartbeats (`markSeen`) move only `last_seen_at`, which queries read directly.
   */
  private refreshFields(id: string, only?: string): void {
    const row = this.s.targetGet.get(id);
    if (row === undefined) return;
    if (only === undefined) this.s.fieldsDelete.run(id);
    else this.s.fieldsDeleteOne.run(id, only);
    for (const field of targetFieldRows(targetFromRow(row))) {
      if (only !== undefined && field.field !== only) continue;
      this.s.fieldsInsert.run(...targetFieldRowParams(id, field));
      this.fieldNames?.add(field.field);
    }
    if (this.index !== undefined) this.unindexed.add(id);
  }

  /**
   * The fleet query index in memory. Built from the store on first use (a pass over
   * `target_fields`), then kept in step by every writer of a target, like the SQL index.
   */
  fleetIndex(): FleetIndex {
    if (this.index === undefined) {
      const index = new FleetIndex();
      const columns = new Map(this.s.indexTargets.all().map((row) => [row.id, indexColumns(row)]));
      let current: string | undefined;
      let rows: TargetFieldRow[] = [];
      const flush = (): void => {
        const target = current === undefined ? undefined : columns.get(current);
        if (target !== undefined) {
          index.set(target, rows);
          columns.delete(target.id);
        }
      };
      for (const row of this.s.indexFields.iterate()) {
        if (row.target_id !== current) {
          flush();
          current = row.target_id;
          rows = [];
        }
        rows.push({ field: row.field, text: row.text, num: row.num, version: row.version, time: row.time });
      }
      flush();
      for (const target of columns.values()) index.set(target, []);
      this.index = index;
      this.unindexed.clear();
    }
    // A write may yet roll back while its transaction is open; once it is over, what the
    // store holds is the truth, so the index catches up by reading those targets back.
    if (this.unindexed.size > 0 && !this.db.inTransaction) {
      for (const id of this.unindexed) {
        const row = this.s.targetGet.get(id);
        if (row === undefined) this.index.remove(id);
        else this.index.set(indexColumns(row), targetFieldRows(targetFromRow(row)));
      }
      this.unindexed.clear();
    }
    return this.index;
  }

  /** The names of every indexed field, for telling an unknown field from a rare one. */
  knownFieldNames(): ReadonlySet<string> {
    this.fieldNames ??= new Set(this.s.fieldNames.all().map((r) => r.field));
    return this.fieldNames;
  }

  targetPage(afterId: string, limit: number): TargetRow[] {
    return this.s.targetPage.all(afterId, limit);
  }

  targetCount(): number {
    return this.s.targetCount.get()!.n;
  }

  /** Records an assertion id; false when it was seen before (a replay). */
  useJti(jti: string, expiresAt: number): boolean {
    return this.s.jtiInsert.run(jti, expiresAt).changes === 1;
  }

  pruneJtis(now: number): void {
    this.s.jtiPrune.run(now);
  }

  insertBundle(signed: SignedBundle, createdAt: number, createdBy: string): void {
    this.s.bundleInsert.run({ digest: signed.digest, name: signed.bundle.name, version: signed.bundle.version, signed: JSON.stringify(signed), createdAt, createdBy });
  }

  bundleJson(digest: string): string | undefined {
    return this.s.bundleGet.get(digest)?.signed;
  }

  bundleByVersion(name: string, version: string): { digest: string; signed: SignedBundle } | undefined {
    const row = this.s.bundleByVersion.get(name, version);
    return row === undefined ? undefined : { digest: row.digest, signed: JSON.parse(row.signed) as SignedBundle };
  }

  bundles(): { digest: string; name: string; version: string; createdAt: number; createdBy: string }[] {
    return this.s.bundleList.all().map((r) => ({ digest: r.digest, name: r.name, version: r.version, createdAt: r.created_at, createdBy: r.created_by }));
  }

  /** Stores a report once per (target, seq); false when that seq was stored before. */
  insertReport(targetId: string, seq: number, generation: number, receivedAt: number, signed: string): boolean {
    return this.s.reportInsert.run({ targetId, seq, generation, receivedAt, signed }).changes === 1;
  }

  reportJson(targetId: string, seq: number): string | undefined {
    return this.s.reportGet.get(targetId, seq)?.signed;
  }
}

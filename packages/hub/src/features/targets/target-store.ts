import {
  READS_DRIFT_POLICY_DIGEST,
  type Actor,
  type Facts,
  type Labels,
  type Properties,
  type ReleaseRef,
  type SignedEnvelope,
  type Target,
  type TargetDrift,
  type TargetStatus,
} from '@flotilla/protocol';
import {
  DESIRED_FIELD_PREFIX,
  desiredFieldRows,
  driftFieldRows,
  reportedFieldRows,
  sameReportedFields,
  targetFieldRows,
  type TargetFieldRow,
} from '@flotilla/protocol/query';
import type { Db } from '../../store/database.ts';
import { forDialect } from '../../store/sql.ts';
import { FleetIndex, type FleetIndexColumns } from './fleet-index.ts';
import { buildFleetIndexFromStore } from './fleet-index-build.ts';
import { isoTime as iso } from './iso-time.ts';
import { targetFieldRowParams, targetFieldsSql } from './target-fields-store.ts';

/** A row of `targets` as SQLite returns it. */
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
  drift: string | null;
}

/** A target to enroll. */
export interface NewTarget {
  readonly id: string;
  readonly name: string;
  readonly publicKey: string;
  readonly keyId: string;
  readonly labels: Labels;
  readonly enrolledAt: number;
  readonly actor: Actor;
}

/** What the check-in path needs of a target: its credentials and the envelope it is served. */
export interface ServingRecord {
  readonly id: string;
  readonly status: TargetStatus;
  readonly publicKey: string;
  readonly keyId: string;
  readonly generation: number;
  /** The signed envelope as stored and sent, with the times and digests read from it; null before the first assignment. */
  readonly envelope: ServedEnvelope | null;
}

/** The desired columns of a target row, as `setDesired` writes them. */
interface DesiredRow {
  readonly id: string;
  readonly generation: number;
  readonly bundles: string;
  readonly envelope: string;
  readonly at: number;
  readonly actor: string;
}

/** A signed envelope as the hub stores and sends it, with the times and digests read from it. */
export interface ServedEnvelope {
  readonly json: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly digests: readonly string[];
}

/** `signed` as served from `json`, its serialization. */
export function servedEnvelope(json: string, { envelope }: SignedEnvelope): ServedEnvelope {
  return {
    json,
    issuedAt: Date.parse(envelope.issuedAt),
    expiresAt: Date.parse(envelope.expiresAt),
    digests: envelope.bundles.map((b) => b.digest),
  };
}

/** A target's desired state and who last changed the target. */
export interface DesiredRecord {
  readonly status: TargetStatus;
  readonly generation: number;
  readonly bundles: ReleaseRef[];
  readonly envelope: SignedEnvelope | null;
  readonly lastChangedAt: number;
  readonly lastChangedBy: Actor;
}

/** The targets an enrollment key belongs to: the same key enrolling again gets the same target. */
export interface EnrolledKey {
  readonly id: string;
  readonly name: string;
  readonly status: TargetStatus;
}

/** A row of `target_fields` of one target as `raw()` reads it: field, text, num, version, time. */
type HeldFieldRow = [string, string, number | null, string | null, number | null];

/** The Target document of a row: every JSON column was written by this store from its typed value. */
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
    ...(row.drift === null ? {} : { drift: JSON.parse(row.drift) as TargetDrift }),
    enrolledAt: iso(row.enrolled_at),
    lastSeenAt: row.last_seen_at === null ? null : iso(row.last_seen_at),
    lastChangedAt: iso(row.last_changed_at),
    lastChangedBy: JSON.parse(row.last_changed_by) as Actor,
  };
}

/**
 * The columns of `targets` a Target document is made of, for `raw()` reads that
 * {@link targetFromColumns} turns into documents: not the key or the signed envelope (a
 * kilobyte or two each), which a document does not carry.
 */
export const TARGET_DOCUMENT_COLUMNS =
  't.id, t.name, t.status, t.labels, t.properties, t.facts, t.key_id, t.desired_generation, t.desired_bundles, t.observed, t.drift, t.enrolled_at, t.last_seen_at, t.last_changed_at, t.last_changed_by';

/** A row of {@link TARGET_DOCUMENT_COLUMNS} as `raw()` reads it. */
export type TargetDocumentColumns = readonly [
  id: string,
  name: string,
  status: TargetStatus,
  labels: string,
  properties: string,
  facts: string,
  keyId: string,
  desiredGeneration: number,
  desiredBundles: string,
  observed: string | null,
  drift: string | null,
  enrolledAt: number,
  lastSeenAt: number | null,
  lastChangedAt: number,
  lastChangedBy: string,
];

/** The fleet index's columns of a target, from a row of {@link TARGET_DOCUMENT_COLUMNS}. */
function indexColumns(row: TargetDocumentColumns): FleetIndexColumns {
  return { id: row[0], name: row[1], status: row[2], lastSeen: row[12], lastChanged: row[13], enrolled: row[11] };
}

/** {@link targetFromRow} for a row of {@link TARGET_DOCUMENT_COLUMNS}: the same document, keys in the same order. */
export function targetFromColumns(row: TargetDocumentColumns): Target {
  const [id, name, status, labels, properties, facts, keyId, generation, bundles, observed, drift] = row;
  return {
    id,
    name,
    status,
    labels: JSON.parse(labels) as Labels,
    properties: JSON.parse(properties) as Properties,
    facts: JSON.parse(facts) as Facts,
    keyId,
    desired: { generation, bundles: JSON.parse(bundles) as ReleaseRef[] },
    observed: observed === null ? null : (JSON.parse(observed) as Target['observed']),
    ...(drift === null ? {} : { drift: JSON.parse(drift) as TargetDrift }),
    enrolledAt: iso(row[11]),
    lastSeenAt: row[12] === null ? null : iso(row[12]),
    lastChangedAt: iso(row[13]),
    lastChangedBy: JSON.parse(row[14]) as Actor,
  };
}

/** The first field name after every `desired.*` one: '/' follows '.' in byte order. */
const DESIRED_FIELDS_END = `${DESIRED_FIELD_PREFIX.slice(0, -1)}/`;

/**
 * The target records (`targets`) and their query index (`target_fields`, and the fleet index
 * in memory). Every writer of a target goes through here, so the record and its index never
 * disagree: each write rewrites the target's index rows in the same transaction.
 */
export class TargetStore {
  private readonly db: Db;
  private readonly s;
  /** Every field name that some target has had: what the query language calls known. */
  private fieldNames: Set<string> | undefined;
  /** The fleet query's in-memory index, built on first use and written through after. */
  private index: FleetIndex | undefined;
  /** Targets written since the index last caught up; applied once their transaction is over. */
  private readonly unindexed = new Set<string>();
  /** Targets whose last contact alone moved since the index last caught up (a report that changed no field). */
  private readonly reseen = new Set<string>();
  // Made once, as every report runs them: making a transaction function costs more than the savepoint it opens.
  private readonly observe: (
    id: string,
    observed: NonNullable<Target['observed']>,
    facts: Facts,
    factsJson: string,
    at: number | null,
  ) => void;
  private readonly summarizeDrift: (id: string, drift: TargetDrift | null) => void;
  // Made once, as the two above: every envelope a wave issues writes through it, and
  // better-sqlite3 builds four wrappers for each transaction function it makes.
  private readonly writeDesired: (row: DesiredRow, bundles: readonly ReleaseRef[]) => void;

  constructor(db: Db) {
    this.db = db;
    this.observe = db.transaction(
      (id: string, observed: NonNullable<Target['observed']>, facts: Facts, factsJson: string, at: number | null) =>
        this.writeObserved(id, observed, facts, factsJson, at),
    );
    this.summarizeDrift = db.transaction((id: string, drift: TargetDrift | null) => this.writeDriftSummary(id, drift));
    this.writeDesired = db.transaction((row: DesiredRow, bundles: readonly ReleaseRef[]) => {
      this.s.setDesired.run(row);
      this.refreshDesiredFields(row.id, bundles);
    });
    // The later of the target's last contact and @at; a NULL @at leaves it. PostgreSQL's greatest
    // skips NULLs, and SQLite's two-argument max is NULL for any NULL.
    const seenAt = forDialect(db, {
      sqlite: 'CASE WHEN @at IS NULL THEN last_seen_at ELSE max(coalesce(last_seen_at, 0), @at) END',
      postgres: 'greatest(last_seen_at, @at::bigint)',
    });
    this.s = {
      insert:
        db.prepare(`INSERT INTO targets (id, name, status, public_key, key_id, labels, enrolled_at, last_changed_at, last_changed_by)
        VALUES (@id, @name, 'active', @publicKey, @keyId, @labels, @enrolledAt, @enrolledAt, @actor)`),
      get: db.prepare<[string], TargetRow>('SELECT * FROM targets WHERE id = ?'),
      // Without the key and the signed envelope, which the fleet index never reads: a wave
      // re-reads each member's row twice (its issuing, its report), and the envelope is most
      // of a row's bytes.
      document: db
        .prepare<[string], TargetDocumentColumns>(`SELECT ${TARGET_DOCUMENT_COLUMNS} FROM targets t WHERE t.id = ?`)
        .raw(),
      name: db.prepare<[string], { name: string }>('SELECT name FROM targets WHERE id = ?'),
      byKey: db.prepare<[string], EnrolledKey>('SELECT id, name, status FROM targets WHERE public_key = ?'),
      nameTaken: db.prepare<[string], { id: string }>('SELECT id FROM targets WHERE name = ?'),
      serving: db.prepare<
        [string],
        Pick<TargetRow, 'id' | 'status' | 'public_key' | 'key_id' | 'desired_generation' | 'envelope'>
      >('SELECT id, status, public_key, key_id, desired_generation, envelope FROM targets WHERE id = ?'),
      desired: db.prepare<
        [string],
        Pick<
          TargetRow,
          'status' | 'desired_generation' | 'desired_bundles' | 'envelope' | 'last_changed_at' | 'last_changed_by'
        >
      >(
        'SELECT status, desired_generation, desired_bundles, envelope, last_changed_at, last_changed_by FROM targets WHERE id = ?',
      ),
      observedSeq: db.prepare<[string], { observed_seq: number }>('SELECT observed_seq FROM targets WHERE id = ?'),
      observation: db.prepare<[string], Pick<TargetRow, 'observed' | 'facts'>>(
        'SELECT observed, facts FROM targets WHERE id = ?',
      ),
      lastSeen: db.prepare<[string], Pick<TargetRow, 'last_seen_at'>>('SELECT last_seen_at FROM targets WHERE id = ?'),
      facts: db.prepare<[string], Pick<TargetRow, 'facts'>>('SELECT facts FROM targets WHERE id = ?'),
      setDesired: db.prepare(
        'UPDATE targets SET desired_generation = @generation, desired_bundles = @bundles, envelope = @envelope, last_changed_at = @at, last_changed_by = @actor WHERE id = @id',
      ),
      setEnvelope: db.prepare('UPDATE targets SET envelope = @envelope WHERE id = @id'),
      setObserved: db.prepare(
        `UPDATE targets SET observed = @observed, observed_seq = @seq, facts = @facts, last_seen_at = ${seenAt} WHERE id = @id`,
      ),
      setKey: db.prepare('UPDATE targets SET public_key = @publicKey, key_id = @keyId WHERE id = @id'),
      setDrift: db.prepare('UPDATE targets SET drift = @drift WHERE id = @id'),
      // Only a later time: most of a rollout's check-ins reach the store after the report that
      // followed them moved the contact already, and rewriting an unchanged row still costs
      // the row, its index entry and the write-ahead log's pages.
      seen: db.prepare(
        'UPDATE targets SET last_seen_at = @at WHERE id = @id AND (last_seen_at IS NULL OR last_seen_at < @at)',
      ),
      setStatus: db.prepare(
        'UPDATE targets SET status = @status, last_changed_at = @at, last_changed_by = @actor WHERE id = @id',
      ),
      setMeta: db.prepare(
        'UPDATE targets SET labels = @labels, properties = @properties, last_changed_at = @at, last_changed_by = @actor WHERE id = @id',
      ),
      withEnvelope: db.prepare<[], { id: string }>(
        "SELECT id FROM targets WHERE envelope IS NOT NULL AND status != 'revoked' ORDER BY id",
      ),
      // The targets whose current envelope carries a hold: the ones to re-sign when it is lifted.
      holding: db.prepare<[string], { id: string }>(
        forDialect(db, {
          sqlite: `SELECT t.id FROM targets t
        WHERE t.envelope IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(t.envelope, '$.envelope.holds') h WHERE json_extract(h.value, '$.id') = ?) ORDER BY t.id`,
          postgres: `SELECT t.id FROM targets t
        WHERE t.envelope IS NOT NULL AND EXISTS (SELECT 1 FROM json_array_elements(t.envelope::json -> 'envelope' -> 'holds') h WHERE h ->> 'id' = ?) ORDER BY t.id`,
        }),
      ),
      fieldsOf: db.prepare<[string]>(
        'SELECT field, text_value, num_value, version_key, time_value FROM target_fields WHERE target_id = ?',
      ),
      fieldsOfDrift: db.prepare<[string]>(
        "SELECT field, text_value, num_value, version_key, time_value FROM target_fields WHERE target_id = ? AND field = 'drift'",
      ),
      // The rows reportedFieldRows writes (isReportedField): substr rather than a range, which
      // would depend on PostgreSQL's collation.
      fieldsOfReported: db.prepare<[string]>(
        "SELECT field, text_value, num_value, version_key, time_value FROM target_fields WHERE target_id = ? AND (field IN ('health', 'phase') OR substr(field, 1, 6) = 'facts.' OR substr(field, 1, 8) = 'running.')",
      ),
      fieldsDeleteRow: db.prepare<[string, string, string]>(
        'DELETE FROM target_fields WHERE target_id = ? AND field = ? AND text_value = ?',
      ),
      // A range on the primary key: the target's `desired.*` rows and no others.
      fieldsDeleteDesired: db.prepare<[string, string, string]>(
        'DELETE FROM target_fields WHERE target_id = ? AND field >= ? AND field < ?',
      ),
      fieldsInsert: db.prepare(targetFieldsSql.insert),
      fieldNames: db.prepare<[], { field: string }>('SELECT DISTINCT field FROM target_fields'),
      snapshotGet: db.prepare<[], { data: Buffer }>('SELECT data FROM fleet_index_snapshot WHERE id = 1'),
      snapshotPut: db.prepare<[{ at: number; data: Buffer }]>(
        'INSERT INTO fleet_index_snapshot (id, taken_at, data) VALUES (1, @at, @data) ON CONFLICT (id) DO UPDATE SET taken_at = excluded.taken_at, data = excluded.data',
      ),
    };
  }

  insert(target: NewTarget): void {
    this.db.transaction(() => {
      this.s.insert.run({ ...target, labels: JSON.stringify(target.labels), actor: JSON.stringify(target.actor) });
      this.refreshFields(target.id);
    })();
  }

  target(id: string): Target | undefined {
    const row = this.s.get.get(id);
    return row === undefined ? undefined : targetFromRow(row);
  }

  /** The target's name: what listings show next to its id. */
  name(id: string): string | undefined {
    return this.s.name.get(id)?.name;
  }

  byPublicKey(publicKey: string): EnrolledKey | undefined {
    return this.s.byKey.get(publicKey);
  }

  /** Binds another key to the target (key rotation); the caller invalidates the target cache. */
  setKey(id: string, publicKey: string, keyId: string): void {
    this.s.setKey.run({ id, publicKey, keyId });
  }

  isNameTaken(name: string): boolean {
    return this.s.nameTaken.get(name) !== undefined;
  }

  serving(id: string): ServingRecord | undefined {
    const row = this.s.serving.get(id);
    if (row === undefined) return undefined;
    return {
      id: row.id,
      status: row.status,
      publicKey: row.public_key,
      keyId: row.key_id,
      generation: row.desired_generation,
      envelope: row.envelope === null ? null : servedEnvelope(row.envelope, JSON.parse(row.envelope) as SignedEnvelope),
    };
  }

  desired(id: string): DesiredRecord | undefined {
    const row = this.s.desired.get(id);
    if (row === undefined) return undefined;
    return {
      status: row.status,
      generation: row.desired_generation,
      bundles: JSON.parse(row.desired_bundles) as ReleaseRef[],
      envelope: row.envelope === null ? null : (JSON.parse(row.envelope) as SignedEnvelope),
      lastChangedAt: row.last_changed_at,
      lastChangedBy: JSON.parse(row.last_changed_by) as Actor,
    };
  }

  /** Writes the target's desired state; answers its envelope's JSON as stored, to be served without reading it back. */
  setDesired(
    id: string,
    generation: number,
    bundles: readonly ReleaseRef[],
    envelope: SignedEnvelope,
    at: number,
    actor: Actor,
  ): string {
    const json = JSON.stringify(envelope);
    this.writeDesired(
      { id, generation, bundles: JSON.stringify(bundles), envelope: json, at, actor: JSON.stringify(actor) },
      bundles,
    );
    return json;
  }

  /** Replaces the envelope without changing desired state: a re-signature before expiry. */
  setEnvelope(id: string, envelope: SignedEnvelope): void {
    this.s.setEnvelope.run({ id, envelope: JSON.stringify(envelope) });
  }

  /** The seq of the report the target's observed state comes from (0 before the first). */
  observedSeq(id: string): number | undefined {
    return this.s.observedSeq.get(id)?.observed_seq;
  }

  /**
   * Sets the observed state; `at` moves the last contact, null (a report carried in a file)
   * leaves it. A report that repeats the last one's facts, releases, health and phase (most
   * reports: an agent reports every pass) leaves the query index alone, neither read nor
   * flattened: only its last contact moves, in the fleet index at its next use.
   */
  setObserved(id: string, observed: NonNullable<Target['observed']>, facts: Facts, at: number | null): void {
    this.observe(id, observed, facts, JSON.stringify(facts), at);
  }

  private writeObserved(
    id: string,
    observed: NonNullable<Target['observed']>,
    facts: Facts,
    factsJson: string,
    at: number | null,
  ): void {
    const before = this.s.observation.get(id);
    this.s.setObserved.run({ id, observed: JSON.stringify(observed), seq: observed.seq, facts: factsJson, at });
    if (
      before !== undefined &&
      sameReportedFields(
        {
          observed: before.observed === null ? null : (JSON.parse(before.observed) as Target['observed']),
          factsJson: before.facts,
        },
        { observed, factsJson },
      )
    ) {
      if (this.index !== undefined && at !== null) this.reseen.add(id);
      return;
    }
    // Only the rows a report feeds: the target's labels, properties and desired releases did not move.
    this.writeFields(
      id,
      reportedFieldRows(observed, facts),
      this.s.fieldsOfReported.raw().all(id) as unknown as HeldFieldRow[],
    );
    if (this.index !== undefined) this.unindexed.add(id);
  }

  /**
   * Replaces the target's drift summary and its `drift` rows of the query index, the only
   * rows the summary feeds: it follows every report, right after the observed state wrote
   * the target's other rows.
   */
  setDriftSummary(id: string, drift: TargetDrift | null): void {
    this.summarizeDrift(id, drift);
  }

  private writeDriftSummary(id: string, drift: TargetDrift | null): void {
    if (this.s.setDrift.run({ id, drift: drift === null ? null : JSON.stringify(drift) }).changes === 0) return;
    // The summary's seq and time move with every report; its rows, the drift classes, seldom.
    // The fleet index holds only the rows, so it re-reads the target only when they moved.
    const changed = this.writeFields(
      id,
      driftFieldRows(drift ?? undefined),
      this.s.fieldsOfDrift.raw().all(id) as unknown as HeldFieldRow[],
    );
    if (changed && this.index !== undefined) this.unindexed.add(id);
  }

  /** Whether the target's last report listed `drift-policy-digest` in its facts' `envelopeFeatures`. */
  readsDriftPolicyDigest(id: string): boolean {
    const json = this.s.facts.get(id)?.facts;
    if (json === undefined) return false;
    // Facts stored before the key was named were not checked as a list: anything else reads as none.
    const features: unknown = (JSON.parse(json) as Record<string, unknown>)['envelopeFeatures'];
    return Array.isArray(features) && features.includes(READS_DRIFT_POLICY_DIGEST);
  }

  markSeen(seen: ReadonlyMap<string, number>): void {
    this.db.transaction(() => {
      for (const [id, at] of seen) this.s.seen.run({ id, at });
    })();
    if (this.index === undefined) return;
    for (const [id, at] of seen) {
      const columns = this.index.columnsOf(id);
      if (columns !== undefined) this.index.setColumns({ ...columns, lastSeen: Math.max(columns.lastSeen ?? 0, at) });
    }
  }

  setStatus(id: string, status: TargetStatus, at: number, actor: Actor): void {
    this.db.transaction(() => {
      this.s.setStatus.run({ id, status, at, actor: JSON.stringify(actor) });
      this.refreshFields(id);
    })();
  }

  setLabelsAndProperties(id: string, labels: Labels, properties: Properties, at: number, actor: Actor): void {
    this.db.transaction(() => {
      this.s.setMeta.run({
        id,
        labels: JSON.stringify(labels),
        properties: JSON.stringify(properties),
        at,
        actor: JSON.stringify(actor),
      });
      this.refreshFields(id);
    })();
  }

  /** The targets that have an envelope and may still fetch it: the ones a fleet-wide change re-signs. */
  idsWithEnvelope(): string[] {
    return this.s.withEnvelope.all().map((r) => r.id);
  }

  /** The targets whose current envelope carries the hold `holdId`. */
  idsHolding(holdId: string): string[] {
    return this.s.holding.all(holdId).map((r) => r.id);
  }

  /**
   * Rewrites only the target's `desired.*` rows of the query index, which depend on nothing but
   * its desired releases: a rollout over 18,000 targets would otherwise re-read and re-flatten
   * every target's labels, properties and facts to rewrite rows that did not change.
   */
  private refreshDesiredFields(id: string, bundles: readonly ReleaseRef[]): void {
    this.s.fieldsDeleteDesired.run(id, DESIRED_FIELD_PREFIX, DESIRED_FIELDS_END);
    for (const field of desiredFieldRows(bundles)) {
      this.s.fieldsInsert.run(...targetFieldRowParams(id, field));
      this.fieldNames?.add(field.field);
    }
    if (this.index !== undefined) this.unindexed.add(id);
  }

  /**
   * Brings the target's rows of the query index in step with its record. Every writer of a target calls it inside the same transaction, so queries never
   * see the record and its index disagree. Heartbeats (`markSeen`) move only `last_seen_at`,
   * which queries read directly.
   *
   * Only the rows that changed are written: a report rewrites the target's observed state, but
   * most of its two or three dozen rows (labels, properties, facts, releases) stay the same, and
   * each row written costs four index updates.
   */
  private refreshFields(id: string): void {
    const row = this.s.get.get(id);
    if (row === undefined) return;
    this.writeFields(
      id,
      targetFieldRows(targetFromRow(row)),
      this.s.fieldsOf.raw().all(id) as unknown as HeldFieldRow[],
    );
    if (this.index !== undefined) this.unindexed.add(id);
  }

  /**
   * Turns the rows `held` into `rows`: deletes the rows that went, inserts the ones that came or
   * changed; true when it wrote any. The caller sends the target back to the fleet index.
   */
  private writeFields(id: string, rows: readonly TargetFieldRow[], heldRows: readonly HeldFieldRow[]): boolean {
    let changed = false;
    const held = new Map<string, HeldFieldRow>();
    for (const heldRow of heldRows) held.set(`${heldRow[0]}\u0000${heldRow[1]}`, heldRow);
    for (const field of rows) {
      const key = `${field.field}\u0000${field.text}`;
      const before = held.get(key);
      if (before !== undefined) {
        held.delete(key);
        if (before[2] === field.num && before[3] === field.version && before[4] === field.time) continue;
        this.s.fieldsDeleteRow.run(id, field.field, field.text);
      }
      this.s.fieldsInsert.run(...targetFieldRowParams(id, field));
      this.fieldNames?.add(field.field);
      changed = true;
    }
    for (const [field, text] of held.values()) {
      this.s.fieldsDeleteRow.run(id, field, text);
      changed = true;
    }
    return changed;
  }

  /**
   * The fleet query index in memory. Built from the store on first use (a pass over
   * `target_fields`), then kept in step by every writer of a target, like the SQL index.
   */
  fleetIndex(): FleetIndex {
    this.index ??= buildFleetIndexFromStore(this.db);
    if (this.reseen.size > 0) {
      for (const id of this.reseen) {
        const columns = this.unindexed.has(id) ? undefined : this.index.columnsOf(id);
        const seen = columns === undefined ? undefined : this.s.lastSeen.get(id);
        if (columns !== undefined && seen !== undefined)
          this.index.setColumns({ ...columns, lastSeen: seen.last_seen_at });
      }
      if (!this.db.inTransaction) this.reseen.clear();
    }
    // Inside a transaction the index reads the targets as the transaction sees them, so a query
    // there sees its own writes; a write may yet roll back, so they are read again once the
    // transaction is over, and only then is what the store holds taken as the truth.
    if (this.unindexed.size > 0) {
      for (const id of this.unindexed) this.reindexNow(this.index, id);
      if (!this.db.inTransaction) this.unindexed.clear();
    }
    return this.index;
  }

  /**
   * Outside a transaction, takes the targets written since the fleet index last caught up into
   * it until `deadline` (a `performance.now()` time); true when none is left. A wave's
   * envelopes rewrite thousands of targets, and taking them all in at the next query would
   * hold the event loop for as long: a caller that can yield catches up in slices first.
   */
  catchUpFleetIndex(deadline: number): boolean {
    if (this.index === undefined || this.db.inTransaction) return true;
    let done = 0;
    for (const id of this.unindexed) {
      this.reindexNow(this.index, id);
      this.unindexed.delete(id);
      // A few hundred always, so a small change is taken in at once whatever the clock says.
      if (++done >= 256 && done % 64 === 0 && performance.now() >= deadline) break;
    }
    return this.unindexed.size === 0;
  }

  private reindexNow(index: FleetIndex, id: string): void {
    const row = this.s.document.get(id);
    if (row === undefined) index.remove(id);
    else index.set(indexColumns(row), targetFieldRows(targetFromColumns(row)));
  }

  /**
   * A target another replica changed (replicas/replica-caches.ts): read again into the fleet
   * index at its next use, as one this store wrote; its field names may be new.
   */
  reindex(id: string): void {
    if (this.index !== undefined) this.unindexed.add(id);
    this.fieldNames = undefined;
  }

  /**
   * Builds the fleet index now rather than on first use: from the snapshot a clean stop left
   * (see {@link saveFleetIndexSnapshot}), else from the store. Only reads, so it works while
   * another process holds the write lock. The hub calls it before it listens, so no query
   * waits for a build.
   */
  loadFleetIndex(): { readonly source: 'snapshot' | 'store'; readonly ms: number } {
    const started = performance.now();
    const data = this.s.snapshotGet.get()?.data;
    const loaded = data === undefined ? undefined : FleetIndex.fromSnapshot(data);
    this.index = loaded ?? buildFleetIndexFromStore(this.db);
    this.unindexed.clear();
    this.reseen.clear();
    return { source: loaded === undefined ? 'store' : 'snapshot', ms: performance.now() - started };
  }

  /**
   * Keeps the fleet index for the next start, on a clean stop after the last write. Any
   * later write to targets or their fields deletes it again (triggers of migration 025),
   * whoever makes it, so a start never loads an index the store has moved past.
   */
  saveFleetIndexSnapshot(at: number): void {
    if (this.index === undefined) return;
    const data = this.fleetIndex().snapshot();
    this.s.snapshotPut.run({ at, data });
  }

  /** The names of every indexed field, for telling an unknown field from a rare one. */
  knownFieldNames(): ReadonlySet<string> {
    this.fieldNames ??= new Set(this.s.fieldNames.all().map((r) => r.field));
    return this.fieldNames;
  }
}

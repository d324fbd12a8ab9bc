import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DatabaseLease, LeaseLostError, SOLE_REPLICA } from '../../../src/features/replicas/replica-lease.ts';
import { openPostgres, type PostgresDatabase } from '../../../src/store/postgres/postgres-database.ts';
import { createPostgresDatabase, postgresAvailable } from '../../store-kinds.ts';

const log = pino({ level: 'silent' });

describe('the sole replica (SQLite)', () => {
  it('holds the lease and runs the once-only work', () => {
    expect(SOLE_REPLICA.held()).toBe(true);
    expect(SOLE_REPLICA.run(() => 42)).toBe(42);
  });
});

describe.skipIf(!postgresAvailable())('a lease shared by replicas on PostgreSQL', () => {
  let database: ReturnType<typeof createPostgresDatabase>;
  let a: PostgresDatabase;
  let b: PostgresDatabase;
  let leases: DatabaseLease[];

  beforeAll(() => {
    database = createPostgresDatabase();
    openPostgres(database.url).exec('CREATE TABLE work (n bigint NOT NULL)').close();
  });

  afterAll(() => database.drop());

  beforeEach(() => {
    a = openPostgres(database.url);
    b = openPostgres(database.url);
    a.exec('DELETE FROM work; DELETE FROM replica_leases');
    leases = [];
  });

  afterEach(() => {
    for (const lease of leases) lease.stop();
    a.close();
    b.close();
  });

  function lease(db: PostgresDatabase, holder: string): DatabaseLease {
    const made = new DatabaseLease({ db, name: 'leader', holder, log });
    leases.push(made);
    made.start();
    return made;
  }

  /** The lease runs out now, as if its holder had stopped renewing it for longer than its life. */
  function expire(): void {
    a.exec(`UPDATE replica_leases SET expires_at = clock_timestamp() - interval '1 millisecond'`);
  }

  function rows(): number {
    return (a.prepare('SELECT count(*) AS n FROM work').get() as { n: number }).n;
  }

  it('is held by one replica, and the other skips the work', () => {
    const first = lease(a, 'replica-a');
    const second = lease(b, 'replica-b');
    expect([first.held(), second.held()]).toEqual([true, false]);
    expect(first.run(() => 'done')).toBe('done');
    expect(second.run(() => 'done')).toBeUndefined();
  });

  it('is renewed by its holder with the same fencing number', () => {
    const first = lease(a, 'replica-a');
    const fencing = first.fencing;
    first.renew();
    first.renew();
    expect(first.fencing).toBe(fencing);
  });

  it('is taken over with a higher fencing number once the holder stopped renewing', () => {
    const first = lease(a, 'replica-a');
    const second = lease(b, 'replica-b');
    const before = first.fencing!;
    expire();
    second.renew();
    expect(second.held()).toBe(true);
    expect(second.fencing).toBe(before + 1);
    first.renew();
    expect(first.held()).toBe(false);
  });

  it('refuses the write of a holder that paused past its lease, and rolls it back', () => {
    const first = lease(a, 'replica-a');
    const second = lease(b, 'replica-b');
    expire();
    second.renew();
    // The old holder has not renewed since: it still believes it holds the lease.
    expect(first.held()).toBe(true);
    expect(() => first.run(() => a.transaction(() => a.prepare('INSERT INTO work VALUES (1)').run())())).toThrow(
      LeaseLostError,
    );
    expect(rows()).toBe(0);
    expect(first.held()).toBe(false);
    expect(second.run(() => b.transaction(() => b.prepare('INSERT INTO work VALUES (2)').run())())).toBeDefined();
    expect(rows()).toBe(1);
  });

  it('refuses the write of a holder whose lease expired, even when no one took it over yet', () => {
    const first = lease(a, 'replica-a');
    expire();
    expect(() => first.run(() => a.transaction(() => a.prepare('INSERT INTO work VALUES (1)').run())())).toThrow(
      LeaseLostError,
    );
    expect(rows()).toBe(0);
  });

  it('leaves writes outside once-only work alone, on every replica', () => {
    lease(a, 'replica-a');
    lease(b, 'replica-b');
    b.transaction(() => b.prepare('INSERT INTO work VALUES (1)').run())();
    expect(rows()).toBe(1);
  });

  it('is given up on stop, so another replica takes it at once', () => {
    const first = lease(a, 'replica-a');
    const second = lease(b, 'replica-b');
    const before = first.fencing!;
    first.stop();
    second.renew();
    expect(second.fencing).toBe(before + 1);
  });

  it('counts as lost while the database cannot be reached', () => {
    const own = openPostgres(database.url);
    const first = lease(own, 'replica-a');
    expect(first.held()).toBe(true);
    own.close();
    first.renew();
    expect(first.held()).toBe(false);
    expect(first.run(() => 'done')).toBeUndefined();
  });
});

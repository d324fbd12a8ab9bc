import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isFlotillaError } from '@flotilla/protocol';
import { openPostgres, PostgresDatabase } from '../../src/store/postgres/postgres-database.ts';
import { StoreHealth } from '../../src/store/store-health.ts';
import { transactions, type Transactions } from '../../src/store/transaction.ts';
import { PostgresRelay } from '../postgres-relay.ts';
import { createPostgresDatabase, postgresAvailable } from '../store-kinds.ts';

describe.skipIf(!postgresAvailable())('the hub store when PostgreSQL goes away', () => {
  let database: ReturnType<typeof createPostgresDatabase>;
  let relay: PostgresRelay;
  let db: PostgresDatabase;
  let health: StoreHealth;
  let tx: Transactions;
  const lines: Record<string, unknown>[] = [];

  beforeEach(async () => {
    database = createPostgresDatabase();
    const url = new URL(database.url);
    relay = new PostgresRelay({ host: url.hostname, port: Number(url.port || 5432) });
    await relay.up();
    url.host = `127.0.0.1:${relay.port}`;
    db = openPostgres(url.toString(), 'outage-test-hub');
    lines.length = 0;
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
          done();
        },
      }),
    );
    health = new StoreHealth({ db, log, clock: () => Date.now(), probeMs: 20 });
    tx = transactions(db, health);
  });

  afterEach(async () => {
    health?.stop();
    db?.close();
    await relay?.stop();
    database?.drop();
  });

  const write = (value: string) =>
    tx.run(() =>
      db
        .prepare("INSERT INTO meta (key, value) VALUES ('k', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .run(value),
    );
  const stored = () => (db.prepare("SELECT value FROM meta WHERE key = 'k'").get() as { value: string }).value;

  async function writable(): Promise<void> {
    for (let i = 0; i < 1000 && !health.writable; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(health.state).toEqual({ writable: true });
  }

  it('goes on after an administrator terminates its backend, on a new connection', async () => {
    write('before');
    const admin = PostgresDatabase.connect(database.url, 'outage-test-admin');
    try {
      admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'outage-test-hub'",
      );
    } finally {
      admin.close();
    }
    try {
      write('after');
    } catch (error) {
      // The statement that finds the backend gone may be refused; the next one connects again.
      expect(isFlotillaError(error, 'STORE_UNAVAILABLE')).toBe(true);
    }
    await writable();
    write('after');
    expect(stored()).toBe('after');
  });

  it('refuses writes as STORE_UNAVAILABLE while the server cannot be reached, and writes again once it is back', async () => {
    write('before');
    await relay.down();
    let refusal: unknown;
    try {
      write('during');
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toMatchObject({ code: 'STORE_UNAVAILABLE', details: { retryAfterSeconds: 1 } });
    // Reads need the server too, so the message does not promise them.
    expect((refusal as Error).message).not.toContain('reads still work');
    expect(health.state).toMatchObject({ writable: false, code: expect.stringMatching(/^(08|57P|ECONN)/) });
    // Refused at once while the outage lasts, without another try at the server: no statement is sent.
    const sent = vi.spyOn(db, 'query');
    expect(() => write('during')).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE' }));
    expect(sent).not.toHaveBeenCalled();
    sent.mockRestore();

    await relay.up();
    await writable();
    write('after');
    expect(stored()).toBe('after');
    expect(lines.filter((line) => line['msg'] === 'store unavailable')).toHaveLength(1);
    expect(lines.filter((line) => line['msg'] === 'store writable again')).toHaveLength(1);
  });
});

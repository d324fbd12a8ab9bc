import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { Db } from '../../../src/store/database.ts';
import type { OpenedStore, StoreKind } from '../../store-kinds.ts';

/**
 * One store of `kind` for a describe block, emptied of targets before each test: a fresh
 * PostgreSQL database per test would cost a second of its creation and migration each.
 * Returns the store's database, valid inside tests and hooks.
 */
export function useTargetsStore(kind: StoreKind): () => Db {
  let opened: OpenedStore | undefined;
  beforeAll(() => {
    opened = kind.open();
  });
  afterAll(() => {
    opened?.close();
  });
  beforeEach(() => {
    opened!.db.exec('DELETE FROM target_fields; DELETE FROM targets; DELETE FROM fleet_index_snapshot;');
  });
  return () => opened!.db;
}

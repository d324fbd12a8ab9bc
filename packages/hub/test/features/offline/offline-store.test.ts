import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OfflineStore } from '../../../src/features/offline/offline-store.ts';
import { STORE_KINDS, type OpenedStore } from '../../store-kinds.ts';
import { insertTarget } from '../../store-rows.ts';

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('the offline store', () => {
    let store: OpenedStore;
    let offline: OfflineStore;

    beforeAll(() => {
      store = kind.open();
      offline = new OfflineStore(store.db);
    });

    afterAll(() => {
      store?.close();
    });

    it('keeps a target’s expiry and last export, each change leaving the others', () => {
      insertTarget(store.db, { id: 'site-a' });
      expect(offline.target('site-a')).toBeUndefined();
      offline.setExpiry('site-a', 3600);
      offline.markExported('site-a', 100, 4);
      offline.setExpiry('site-a', 7200);
      offline.markExported('site-a', 200, 5);
      expect(offline.target('site-a')).toEqual({
        expirySeconds: 7200,
        lastExportAt: 200,
        exportGeneration: 5,
        lastImportAt: null,
        trustRootVersion: null,
      });
    });

    it('raises a site’s trust-root version on import and never lowers it', () => {
      insertTarget(store.db, { id: 'site-b' });
      offline.markImported('site-b', 100, undefined);
      expect(offline.target('site-b')).toMatchObject({ lastImportAt: 100, trustRootVersion: null });
      offline.markImported('site-b', 200, undefined);
      expect(offline.target('site-b')).toMatchObject({ lastImportAt: 200, trustRootVersion: null });
      offline.markImported('site-b', 300, 3);
      offline.markImported('site-b', 400, 2);
      expect(offline.target('site-b')).toMatchObject({ lastImportAt: 400, trustRootVersion: 3 });
      offline.markImported('site-b', 500, undefined);
      expect(offline.target('site-b')).toMatchObject({ lastImportAt: 500, trustRootVersion: 3 });
      offline.markImported('site-b', 600, 4);
      expect(offline.target('site-b')).toMatchObject({ lastImportAt: 600, trustRootVersion: 4 });
    });

    it('lists every target with offline state, by id', () => {
      for (const id of ['list-b', 'list-a']) insertTarget(store.db, { id });
      offline.setExpiry('list-b', 60);
      offline.markExported('list-a', 100, 1);
      const listed = offline.all().filter((t) => t.targetId.startsWith('list-'));
      expect(listed.map((t) => t.targetId)).toEqual(['list-a', 'list-b']);
      expect(listed[1]).toEqual({
        targetId: 'list-b',
        expirySeconds: 60,
        lastExportAt: null,
        exportGeneration: null,
        lastImportAt: null,
        trustRootVersion: null,
      });
    });

    it('keeps the first file’s chain link of a report, and the first receipt of a file', () => {
      insertTarget(store.db, { id: 'site-c' });
      offline.addLink('site-c', 1, 'link-1', 'file-a');
      offline.addLink('site-c', 1, 'link-other', 'file-b');
      offline.addFile('site-c', 'file-a', 1, 100, 'receipt-1');
      offline.addFile('site-c', 'file-a', 1, 200, 'receipt-2');
      expect(
        store.db.prepare('SELECT seq, link, file FROM offline_report_links WHERE target_id = ?').all('site-c'),
      ).toEqual([{ seq: 1, link: 'link-1', file: 'file-a' }]);
      expect(
        store.db
          .prepare('SELECT file, head_seq, imported_at, receipt FROM offline_report_files WHERE target_id = ?')
          .all('site-c'),
      ).toEqual([{ file: 'file-a', head_seq: 1, imported_at: 100, receipt: 'receipt-1' }]);
    });
  });
});

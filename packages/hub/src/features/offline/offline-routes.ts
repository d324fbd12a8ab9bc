import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FlotillaError, TargetId } from '@flotilla/protocol';
import { OfflineExportPlan, OfflineExportRequest, OfflineSettings, OfflineTargetList } from '@flotilla/protocol/api';
import { SignedOfflineReceipt } from '@flotilla/protocol/offline';
import { requireOperator, type Authenticator } from '../../http/auth.ts';
import { readJson, readParam } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import type { OfflineService } from './offline-service.ts';

/** The request of an export describes images by digest; large, but far below a transfer file. */
const EXPORT_BODY_LIMIT = 32 * 1024 * 1024;
/** A reports file: a thousand journaled reports of a large cluster fit many times over. */
export const REPORTS_FILE_BODY_LIMIT = 512 * 1024 * 1024;

export interface OfflineRoutesDeps {
  readonly auth: Authenticator;
  readonly offline: OfflineService;
}

/** Streams a request body to `path`, refusing it as soon as it passes `limit` bytes. */
async function bodyToFile(req: IncomingMessage, path: string, limit: number): Promise<void> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit)
    throw new FlotillaError(
      'BODY_TOO_LARGE',
      `the reports file of ${declared} bytes exceeds the limit of ${limit} bytes`,
    );
  let size = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > limit)
        done(new FlotillaError('BODY_TOO_LARGE', `the reports file exceeds the limit of ${limit} bytes`));
      else done(null, chunk);
    },
  });
  await pipeline(req, cap, createWriteStream(path, { mode: 0o600 }));
}

/**
 * The air-gap exchange: `POST /v1/offline/exports` (deployer) signs a transfer file's manifest
 * and answers its documents; `POST /v1/offline/reports` (deployer) imports a reports file sent
 * as the body and answers the signed receipt; `GET /v1/offline/targets` (viewer) lists offline
 * state; `PUT /v1/offline/targets/{id}` (admin) sets a target's offline expiry.
 */
export function offlineRoutes(router: Router, { auth, offline }: OfflineRoutesDeps): void {
  router.on('POST', '/v1/offline/exports', async ({ req, res }) => {
    const principal = requireOperator(auth, req, 'deployer');
    const request = await readJson(req, OfflineExportRequest, EXPORT_BODY_LIMIT);
    sendJson(res, 200, OfflineExportPlan, offline.exportPlan(request, principal));
  });

  router.on('POST', '/v1/offline/reports', async ({ req, res }) => {
    const principal = requireOperator(auth, req, 'deployer');
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/x-ndjson\s*(;|$)/i.test(type))
      throw new FlotillaError(
        'UNSUPPORTED_MEDIA_TYPE',
        `a reports file is sent as application/x-ndjson, received ${type === '' ? 'no content type' : type}`,
      );
    // The import reads the file twice (verify whole, then ingest): it goes to a private file first.
    // Removed before the answer goes out: a client that got its receipt finds nothing left behind.
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-reports-'));
    let imported;
    try {
      const path = join(dir, 'reports.jsonl');
      await bodyToFile(req, path, REPORTS_FILE_BODY_LIMIT);
      imported = await offline.importReports(path, principal);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    sendJson(res, 200, SignedOfflineReceipt, imported.receipt);
  });

  router.on('GET', '/v1/offline/targets', ({ req, res }) => {
    requireOperator(auth, req, 'viewer');
    sendJson(res, 200, OfflineTargetList, offline.list());
  });

  router.on('PUT', '/v1/offline/targets/:id', async ({ req, res, params }) => {
    const principal = requireOperator(auth, req, 'admin');
    const targetId = readParam(params['id'], TargetId, 'target id');
    const settings = await readJson(req, OfflineSettings);
    offline.setExpiry(targetId, settings.expirySeconds, principal);
    sendJson(res, 200, OfflineSettings, settings);
  });
}

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { canonicalize, FlotillaError, type TrustedKey } from '@flotilla/protocol';
import {
  parseTransferDocuments,
  readTransfer,
  TRANSFER_MANIFEST_PATH,
  verifyTransferDocuments,
  type SiteState,
  type TransferDocuments,
  type TransferManifest,
  type VerifiedTransfer,
} from '@flotilla/protocol/offline';
import { fileChunks, streamOf, syncDirectory, writeNewFile } from '@flotilla/runtime';
import { readOciLayout, type OciLayout } from './oci-layout.ts';

export interface ImportTransferOptions {
  /** The hub keys of the trust root the site holds: the file's manifest must be signed by one. */
  readonly hubKeys: readonly TrustedKey[];
  /** The directory the verified entries become; it must not exist yet. */
  readonly destination: string;
}

/** A transfer file whose every entry verified, now in its own directory. */
export interface ImportedTransfer {
  readonly manifest: TransferManifest;
  /** The destination: `manifest.json` and every listed entry under its path. */
  readonly directory: string;
  /** Bytes of entry data written. */
  readonly bytes: number;
}

/** Where an entry goes: under the staging directory, whatever the path says. */
function placeOf(root: string, path: string): string {
  const place = resolve(root, path);
  const inside = relative(root, place);
  if (inside === '' || inside.startsWith(`..${sep}`) || inside === '..' || resolve(root, inside) !== place) {
    throw new FlotillaError(
      'TRANSFER_ENTRY_UNSAFE_PATH',
      `entry ${JSON.stringify(path)} would be written outside the staging directory`,
      { entry: path },
    );
  }
  return place;
}

/**
 * Reads a transfer file (a path, or a stream of its bytes) through the strict reader and
 * writes its entries to a staging directory beside `destination`; only when the whole file
 * verified (manifest signature, every entry's length and digest, nothing unlisted, the end of
 * the archive) is the staging directory renamed to `destination`, after everything in it was
 * flushed to disk. On any failure the staging directory is removed: nothing of a refused file
 * remains, and `destination` never holds part of one.
 */
export async function importTransferFile(
  source: string | AsyncIterable<Uint8Array>,
  options: ImportTransferOptions,
): Promise<ImportedTransfer> {
  const destination = resolve(options.destination);
  if (
    await stat(destination).then(
      () => true,
      () => false,
    )
  ) {
    throw new FlotillaError(
      'CONFLICT',
      `import destination ${destination} already exists; each import gets a new directory`,
      { destination },
    );
  }
  await mkdir(dirname(destination), { recursive: true, mode: 0o700 });
  const staging = join(dirname(destination), `.${basename(destination)}.${randomBytes(6).toString('hex')}.staging`);
  await mkdir(staging, { mode: 0o700 });
  try {
    const bytes = typeof source === 'string' ? fileChunks(source) : source;
    let manifest: TransferManifest | undefined;
    let written = 0;
    const directories = new Set<string>([staging]);
    for await (const item of readTransfer(bytes, { hubKeys: options.hubKeys })) {
      if (item.type === 'manifest') {
        manifest = item.manifest;
        written += await writeNewFile(join(staging, TRANSFER_MANIFEST_PATH), streamOf(canonicalize(item.signed)));
        continue;
      }
      const place = placeOf(staging, item.entry.path);
      if (!directories.has(dirname(place))) {
        await mkdir(dirname(place), { recursive: true, mode: 0o700 });
        directories.add(dirname(place));
      }
      written += await writeNewFile(place, item.body);
    }
    for (const dir of directories) await syncDirectory(dir);
    await rename(staging, destination);
    await syncDirectory(dirname(destination));
    return { manifest: manifest!, directory: destination, bytes: written };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/** Parses the documents (trust roots, envelopes, releases) of an imported file. */
export async function readImportedDocuments(imported: ImportedTransfer): Promise<TransferDocuments> {
  return parseTransferDocuments(imported.manifest, async (entry) => readFile(placeOf(imported.directory, entry.path)));
}

/**
 * Runs the online checks on an imported file for this site: the trust-root chain, then the
 * envelope for its target with every release it names (see `verifyTransferDocuments`).
 */
export async function verifyImportedTransfer(imported: ImportedTransfer, site: SiteState): Promise<VerifiedTransfer> {
  return verifyTransferDocuments(imported.manifest, await readImportedDocuments(imported), site);
}

/** The OCI image layout an imported file carries, or undefined when it carries no image. */
export async function importedImages(imported: ImportedTransfer): Promise<OciLayout | undefined> {
  if (!imported.manifest.entries.some((e) => e.kind === 'oci-index')) return undefined;
  return readOciLayout(join(imported.directory, 'images'));
}

/**
 * Removes the staging directories an import killed part-way left in `parent` (the directory
 * that holds import destinations). Run it before importing, when nothing else imports there.
 */
export async function removeStaleStaging(parent: string): Promise<string[]> {
  const names = await readdir(parent).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  const stale = names.filter((name) => /^\..+\.[0-9a-f]{12}\.staging$/.test(name));
  for (const name of stale) await rm(join(parent, name), { recursive: true, force: true });
  return stale;
}

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { assertJsonDepth, FlotillaError, Resource } from '@flotilla/protocol';

const MANIFEST = /\.(ya?ml|json)$/i;

/**
 * Reads every YAML or JSON manifest under `dir` (recursively, in path order) into resources.
 * A file may hold several YAML documents; empty documents are skipped. Any invalid document
 * is an error naming the file and document, so nothing half-read is ever published.
 */
export function loadManifests(dir: string): Resource[] {
  let stat;
  try {
    stat = statSync(dir);
  } catch {
    throw new FlotillaError('MANIFEST_INVALID', `${dir} does not exist`);
  }
  if (!stat.isDirectory()) throw new FlotillaError('MANIFEST_INVALID', `${dir} is not a directory of manifests`);
  const files = walk(dir)
    .filter((f) => MANIFEST.test(f))
    .sort();
  if (files.length === 0) throw new FlotillaError('MANIFEST_INVALID', `${dir} holds no .yaml, .yml or .json files`);
  const resources: Resource[] = [];
  for (const file of files) {
    const name = relative(dir, file);
    const documents = parseAllDocuments(readFileSync(file, 'utf8'));
    const list = Array.isArray(documents) ? documents : [documents];
    list.forEach((document, index) => {
      if (document.errors.length > 0)
        throw new FlotillaError(
          'MANIFEST_INVALID',
          `${name} document ${index + 1}: ${document.errors[0]!.message.split('\n')[0]}`,
        );
      const value: unknown = document.toJS();
      if (value === null || value === undefined) return;
      assertJsonDepth(value, `${name} document ${index + 1}`);
      const parsed = Resource.safeParse(value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new FlotillaError(
          'MANIFEST_INVALID',
          `${name} document ${index + 1}: ${issue.path.join('.') || 'resource'}: ${issue.message}`,
        );
      }
      resources.push(parsed.data);
    });
  }
  return resources;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith('.')) return [];
    const path = join(dir, entry.name);
    return entry.isDirectory() ? walk(path) : [path];
  });
}

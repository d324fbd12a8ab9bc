import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FlotillaError, generateKeyPair, KeyPair, parseJson } from '@flotilla/protocol';

/** Writes a file that only its owner may read, atomically: no reader ever sees half of it. */
export function writeSecretFile(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);
  writeFileSync(temporary, content, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

export function readKeyFile(path: string): KeyPair {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new FlotillaError(
      'CONFIG_INVALID',
      `cannot read key file ${path}; create one with 'flotilla keys create --out ${path}'`,
    );
  }
  const parsed = KeyPair.safeParse(safeJson(text));
  if (!parsed.success) throw new FlotillaError('CONFIG_INVALID', `key file ${path} is not a Flotilla Ed25519 key pair`);
  return parsed.data;
}

function safeJson(text: string): unknown {
  try {
    return parseJson(text, 'a key file');
  } catch {
    return undefined;
  }
}

/** Loads the key pair at `path`, creating it (mode 0600) on first use. */
export function loadOrCreateKeyFile(path: string): KeyPair {
  if (existsSync(path)) return readKeyFile(path);
  const key = generateKeyPair();
  writeSecretFile(path, `${JSON.stringify(key, null, 2)}\n`);
  return key;
}

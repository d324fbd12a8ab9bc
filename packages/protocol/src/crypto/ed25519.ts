import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { precheck } from './ed25519-checks.ts';

/** The raw primitive a backend supplies; strictness is added on top, the same for all. */
export interface Ed25519Backend {
  readonly name: string;
  generate(): { publicKey: Uint8Array; seed: Uint8Array };
  sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

// Importing a key costs more than a verification; fleets verify the same few keys constantly.
const publicKeyCache = new Map<string, KeyObject>();
const privateKeyCache = new Map<string, KeyObject>();
const KEYS_CACHED = 50_000;

/** Keeps `key` in `cache` under `id`, the cache emptied past {@link KEYS_CACHED}: a fleet's keys, not every key a process made. */
function remember(cache: Map<string, KeyObject>, id: string, key: KeyObject): KeyObject {
  if (cache.size > KEYS_CACHED) cache.clear();
  cache.set(id, key);
  return key;
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  const id = Buffer.from(raw).toString('base64');
  let key = publicKeyCache.get(id);
  if (key === undefined) {
    // A JWK, not SPKI DER: OpenSSL 3 decodes DER through its generic decoder chain, about ten
    // times slower (~100 µs against ~10 µs), and every enrolling agent brings a key not seen yet.
    const x = Buffer.from(raw).toString('base64url');
    key = remember(publicKeyCache, id, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' }));
  }
  return key;
}

function privateKeyObject(seed: Uint8Array): KeyObject {
  const id = Buffer.from(seed).toString('base64');
  let key = privateKeyCache.get(id);
  if (key === undefined) {
    key = remember(
      privateKeyCache,
      id,
      createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' }),
    );
  }
  return key;
}

/** Ed25519 through node:crypto (OpenSSL): native and about a hundred times faster than tweetnacl. */
export const nodeBackend: Ed25519Backend = {
  name: 'node:crypto',
  generate() {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    const seed = new Uint8Array(pkcs8.subarray(PKCS8_PREFIX.length));
    // A new key is generated to sign with (an agent's proof of possession next): importing its
    // seed again would cost ~400 µs, more than ten signatures.
    remember(privateKeyCache, Buffer.from(seed).toString('base64'), privateKey);
    return { publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)), seed };
  },
  sign(seed, message) {
    return new Uint8Array(sign(null, message, privateKeyObject(seed)));
  },
  verify(publicKey, message, signature) {
    return verify(null, message, publicKeyObject(publicKey), signature);
  },
};

/**
 * {@link strictVerify} with node:crypto, the curve arithmetic run on libuv's thread pool
 * (node:crypto's asynchronous `verify`): the same checks and the same answer, while the event
 * loop goes on with other requests. For a hub taking thousands of signed reports a second.
 */
export function strictVerifyInPool(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (precheck(publicKey, signature) !== undefined) return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      verify(null, message, publicKeyObject(publicKey), signature, (error, valid) => resolve(error === null && valid));
    } catch {
      resolve(false);
    }
  });
}

/**
 * The one Ed25519 verification of Flotilla: refuses non-canonical signatures and weak keys,
 * then asks the backend. Never throws for bad input; false means "not a valid signature".
 */
export function strictVerify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  backend: Ed25519Backend = nodeBackend,
): boolean {
  if (precheck(publicKey, signature) !== undefined) return false;
  try {
    return backend.verify(publicKey, message, signature);
  } catch {
    return false;
  }
}

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Agent as UndiciAgent, request, type Dispatcher } from 'undici';
import { FlotillaError, parseJson } from '@flotilla/protocol';
import { OCI_MANIFEST_MAX_BYTES, verifiedBlob, type BlobClaim } from '@flotilla/protocol/offline';
import type { RegistryCredentials } from './registry-credentials.ts';

export interface RegistryClientOptions {
  /** The registry's base URL: `https://registry.site.example`, `http://127.0.0.1:5000`. */
  readonly url: string;
  readonly credentials?: RegistryCredentials | undefined;
  readonly dispatcher?: Dispatcher;
  /** Blobs up to this size go up in one PUT; larger ones in chunks of `chunkSize`. Default 64 MiB. */
  readonly monolithicMaxBytes?: number;
  /** The size of each PATCH of a chunked upload. Default 16 MiB. */
  readonly chunkSize?: number;
}

/** What a registry holds for a manifest reference. */
export interface RegistryManifest {
  readonly mediaType: string;
  readonly digest: string;
  readonly bytes: Uint8Array;
}

type Body = Uint8Array | AsyncIterable<Uint8Array> | undefined;

interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (RFC 7235 auth-params, quoted or not). */
export function parseChallenge(header: string): Challenge | undefined {
  const match = /^\s*([A-Za-z][A-Za-z0-9._-]*)\s*(.*)$/.exec(header);
  if (match === null) return undefined;
  const params: Record<string, string> = {};
  const pattern = /([A-Za-z][A-Za-z0-9._-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/g;
  for (const param of match[2]!.matchAll(pattern))
    params[param[1]!.toLowerCase()] = param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : param[3]!;
  return { scheme: match[1]!.toLowerCase(), params };
}

const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

function checkRepository(repository: string): void {
  if (repository.length > 255 || !REPOSITORY.test(repository))
    throw new TypeError(
      `RegistryClient: ${JSON.stringify(repository)} is not a repository name (lowercase path components)`,
    );
}

function checkReference(reference: string): void {
  if (!TAG.test(reference) && !DIGEST.test(reference))
    throw new TypeError(`RegistryClient: ${JSON.stringify(reference)} is neither a tag nor a sha256 digest`);
}

async function* segment(
  iterator: AsyncIterator<Uint8Array>,
  carry: { rest: Uint8Array | undefined },
  length: number,
): AsyncGenerator<Uint8Array> {
  let left = length;
  while (left > 0) {
    let chunk = carry.rest;
    carry.rest = undefined;
    if (chunk === undefined || chunk.length === 0) {
      const next = await iterator.next();
      if (next.done === true) return;
      chunk = next.value;
    }
    if (chunk.length > left) {
      carry.rest = chunk.subarray(left);
      chunk = chunk.subarray(0, left);
    }
    left -= chunk.length;
    yield chunk;
  }
}

/**
 * A client of the OCI distribution API (v1.1) for pushing images into a site registry:
 * `HEAD` a blob to skip what is there, push blobs monolithically (`POST` then `PUT
 * ?digest=`) or in chunks (`POST`, `PATCH` with `Content-Range`, closing `PUT ?digest=`),
 * `PUT` manifests with their media type, and read manifests and blobs back. It answers a
 * `401` by signing in as the challenge asks: `Basic` with the credentials, or `Bearer` with a
 * token fetched from the challenge's realm (with the credentials as basic auth, when they
 * are a user and password). Errors: REGISTRY_UNREACHABLE (network, retry later),
 * REGISTRY_UNAUTHORIZED (credentials refused), REGISTRY_ERROR (any other refusal, with the
 * registry's error codes), OCI_DIGEST_MISMATCH (content not as named).
 */
export class RegistryClient {
  private readonly base: URL;
  private readonly credentials: RegistryCredentials | undefined;
  private readonly dispatcher: Dispatcher;
  private readonly ownDispatcher: boolean;
  private readonly monolithicMaxBytes: number;
  private readonly chunkSize: number;
  /** The Authorization value to send for each scope, once a challenge told how. */
  private readonly authorizations = new Map<string, string>();
  private basic = false;

  constructor(options: RegistryClientOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new TypeError(`RegistryClient: url must be an http(s) URL, received ${JSON.stringify(options.url)}`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:')
      throw new TypeError(`RegistryClient: url must be http or https, received ${base.protocol}`);
    const chunkSize = options.chunkSize ?? 16 * 1024 * 1024;
    const monolithicMaxBytes = options.monolithicMaxBytes ?? 64 * 1024 * 1024;
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1)
      throw new TypeError(`RegistryClient: chunkSize must be a positive integer, received ${chunkSize}`);
    if (!Number.isSafeInteger(monolithicMaxBytes) || monolithicMaxBytes < 0)
      throw new TypeError(`RegistryClient: monolithicMaxBytes must be a byte count, received ${monolithicMaxBytes}`);
    this.base = base;
    this.credentials = options.credentials;
    this.ownDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ?? new UndiciAgent({ connectTimeout: 10_000, headersTimeout: 120_000, bodyTimeout: 120_000 });
    this.chunkSize = chunkSize;
    this.monolithicMaxBytes = monolithicMaxBytes;
  }

  /** True when the repository already holds the blob. */
  async hasBlob(repository: string, digest: string): Promise<boolean> {
    checkRepository(repository);
    const response = await this.send('HEAD', `/v2/${repository}/blobs/${digest}`, { scope: pull(repository) });
    await response.body.dump();
    if (response.statusCode === 200) return true;
    if (response.statusCode === 404) return false;
    throw this.refusal(response.statusCode, `HEAD blob ${digest} in ${repository}`, '');
  }

  /**
   * Pushes a blob unless the repository has it. `open` gives its bytes, which are checked
   * against the digest and size on the way out, so a corrupt source fails the upload.
   */
  async pushBlob(
    repository: string,
    blob: BlobClaim,
    open: () => AsyncIterable<Uint8Array>,
  ): Promise<'exists' | 'pushed'> {
    if (await this.hasBlob(repository, blob.digest)) return 'exists';
    const scope = push(repository);
    const upload = { location: await this.startUpload(repository, scope) };
    try {
      await this.upload(upload, blob, scope, verifiedBlob(open(), blob, `blob ${blob.digest}`));
    } catch (error) {
      // The spec asks clients to cancel a failed upload so the registry frees it at once.
      await this.send('DELETE', upload.location, { scope }).then(
        (r) => r.body.dump(),
        () => undefined,
      );
      throw error;
    }
    return 'pushed';
  }

  private async upload(
    upload: { location: string },
    blob: BlobClaim,
    scope: string,
    source: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    if (blob.size <= this.monolithicMaxBytes) {
      await this.closeUpload(upload.location, blob, scope, source, blob.size);
      return;
    }
    let location = upload.location;
    const iterator = source[Symbol.asyncIterator]();
    const carry: { rest: Uint8Array | undefined } = { rest: undefined };
    for (let offset = 0; offset < blob.size; offset += this.chunkSize) {
      const length = Math.min(this.chunkSize, blob.size - offset);
      const response = await this.send('PATCH', location, {
        scope,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${offset}-${offset + length - 1}`,
          'content-length': String(length),
        },
        body: segment(iterator, carry, length),
      });
      const text = await bounded(response);
      if (response.statusCode !== 202)
        throw this.refusal(response.statusCode, `PATCH chunk ${offset}-${offset + length - 1} of ${blob.digest}`, text);
      location = this.locationOf(response, location);
      upload.location = location;
    }
    // The verified source fails here if the blob's bytes did not hash to its digest.
    if ((await iterator.next()).done !== true)
      throw new FlotillaError('OCI_DIGEST_MISMATCH', `blob ${blob.digest} is longer than ${blob.size} bytes`, {
        blob: blob.digest,
      });
    await this.closeUpload(location, blob, scope, undefined, 0);
  }

  /** Puts a manifest (or index) under a tag or its digest, as its exact bytes and media type; returns its digest. */
  async pushManifest(repository: string, reference: string, bytes: Uint8Array, mediaType: string): Promise<string> {
    checkRepository(repository);
    checkReference(reference);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (DIGEST.test(reference) && reference !== digest)
      throw new TypeError(`RegistryClient: manifest bytes hash to ${digest}, not to the reference ${reference}`);
    const response = await this.send('PUT', `/v2/${repository}/manifests/${reference}`, {
      scope: push(repository),
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
    });
    const text = await bounded(response);
    if (response.statusCode !== 201)
      throw this.refusal(response.statusCode, `PUT manifest ${repository}:${reference}`, text);
    const answered = header(response, 'docker-content-digest');
    if (answered !== undefined && answered !== digest)
      throw new FlotillaError(
        'OCI_DIGEST_MISMATCH',
        `the registry stored manifest ${repository}:${reference} as ${answered}, not ${digest}`,
        { blob: digest, actual: answered },
      );
    return digest;
  }

  /** Reads a manifest (or index) back, checked against its digest. */
  async getManifest(repository: string, reference: string, accept: readonly string[]): Promise<RegistryManifest> {
    checkRepository(repository);
    checkReference(reference);
    const response = await this.send('GET', `/v2/${repository}/manifests/${reference}`, {
      scope: pull(repository),
      headers: { accept: accept.join(', ') },
    });
    const bytes = new Uint8Array(await response.body.arrayBuffer());
    if (response.statusCode !== 200)
      throw this.refusal(
        response.statusCode,
        `GET manifest ${repository}:${reference}`,
        Buffer.from(bytes.subarray(0, 4096)).toString('utf8'),
      );
    if (bytes.length > OCI_MANIFEST_MAX_BYTES)
      throw new FlotillaError(
        'REGISTRY_ERROR',
        `manifest ${repository}:${reference} is larger than ${OCI_MANIFEST_MAX_BYTES} bytes`,
        { repository, reference },
      );
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const answered = header(response, 'docker-content-digest');
    if ((DIGEST.test(reference) && reference !== digest) || (answered !== undefined && answered !== digest)) {
      throw new FlotillaError(
        'OCI_DIGEST_MISMATCH',
        `manifest ${repository}:${reference} hashes to ${digest}, not to ${DIGEST.test(reference) ? reference : answered}`,
        { blob: reference, actual: digest },
      );
    }
    return { mediaType: (header(response, 'content-type') ?? '').split(';')[0]!.trim(), digest, bytes };
  }

  /** Streams a blob from the registry, checked against its digest and size. */
  async *getBlob(repository: string, blob: BlobClaim): AsyncGenerator<Uint8Array> {
    checkRepository(repository);
    const response = await this.send('GET', `/v2/${repository}/blobs/${blob.digest}`, { scope: pull(repository) });
    if (response.statusCode !== 200)
      throw this.refusal(response.statusCode, `GET blob ${blob.digest} from ${repository}`, await bounded(response));
    try {
      yield* verifiedBlob(response.body as AsyncIterable<Uint8Array>, blob, `blob ${blob.digest} from ${repository}`);
    } finally {
      // A refused or abandoned blob leaves its body unread: free the connection.
      if (!response.body.readableEnded) response.body.destroy();
    }
  }

  /** Closes the connections, when the client made its own dispatcher. */
  async close(): Promise<void> {
    if (this.ownDispatcher) await this.dispatcher.close();
  }

  private async startUpload(repository: string, scope: string): Promise<string> {
    checkRepository(repository);
    const response = await this.send('POST', `/v2/${repository}/blobs/uploads/`, {
      scope,
      headers: { 'content-length': '0' },
    });
    const text = await bounded(response);
    if (response.statusCode !== 202) throw this.refusal(response.statusCode, `POST upload to ${repository}`, text);
    return this.locationOf(response, undefined);
  }

  private async closeUpload(
    location: string,
    blob: BlobClaim,
    scope: string,
    body: AsyncIterable<Uint8Array> | undefined,
    length: number,
  ): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', blob.digest);
    const headers: Record<string, string> = { 'content-length': String(length) };
    if (body !== undefined) headers['content-type'] = 'application/octet-stream';
    const response = await this.send('PUT', url.href, { scope, headers, body });
    const text = await bounded(response);
    if (response.statusCode !== 201) throw this.refusal(response.statusCode, `PUT blob ${blob.digest}`, text);
  }

  private locationOf(response: Dispatcher.ResponseData, previous: string | undefined): string {
    const location = header(response, 'location');
    if (location === undefined) {
      if (previous !== undefined) return previous;
      throw new FlotillaError('REGISTRY_ERROR', 'the registry answered an upload without a Location header', {
        status: response.statusCode,
      });
    }
    return new URL(location, this.base).href;
  }

  /**
   * One request, signed in as the registry asked last time for this scope; a `401` is
   * answered once by signing in as its challenge says, then the request is sent again (a body
   * is only ever a buffer here when a retry may need it again).
   */
  private async send(
    method: Dispatcher.HttpMethod,
    path: string,
    options: { readonly scope: string; readonly headers?: Record<string, string>; readonly body?: Body },
  ): Promise<Dispatcher.ResponseData> {
    const url = new URL(path, this.base).href;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...options.headers };
      const authorization = this.authorizationFor(options.scope);
      if (authorization !== undefined) headers['authorization'] = authorization;
      let response: Dispatcher.ResponseData;
      try {
        const body =
          options.body === undefined
            ? null
            : options.body instanceof Uint8Array
              ? options.body
              : Readable.from(options.body, { objectMode: false });
        response = await request(url, { method, headers, body, dispatcher: this.dispatcher });
      } catch (error) {
        if (error instanceof FlotillaError) throw error;
        throw new FlotillaError(
          'REGISTRY_UNREACHABLE',
          `registry ${this.base.host} could not be reached for ${method} ${new URL(url).pathname}: ${(error as Error).message}`,
          { registry: this.base.host },
        );
      }
      if (response.statusCode !== 401) return response;
      const text = await bounded(response);
      const retryable = attempt === 0 && (options.body === undefined || options.body instanceof Uint8Array);
      const challenge = parseChallenge(header(response, 'www-authenticate') ?? '');
      if (!retryable || challenge === undefined || !(await this.signIn(challenge, options.scope))) {
        throw new FlotillaError(
          'REGISTRY_UNAUTHORIZED',
          `registry ${this.base.host} refused ${method} ${new URL(url).pathname}${this.credentials === undefined ? ' and no credentials are configured' : ' with the configured credentials'}${registryErrors(text)}`,
          { registry: this.base.host, status: 401 },
        );
      }
    }
  }

  private authorizationFor(scope: string): string | undefined {
    const bearer = this.authorizations.get(scope);
    if (bearer !== undefined) return bearer;
    if (this.basic && this.credentials?.kind === 'basic') return basicAuthorization(this.credentials);
    return undefined;
  }

  /** Answers a challenge; false when there is nothing to answer it with. */
  private async signIn(challenge: Challenge, scope: string): Promise<boolean> {
    if (challenge.scheme === 'basic') {
      if (this.credentials?.kind !== 'basic' || this.basic) return false;
      this.basic = true;
      return true;
    }
    if (challenge.scheme !== 'bearer') return false;
    if (this.credentials?.kind === 'bearer') {
      // A registry token is sent as it is; there is no token service to ask.
      if (this.authorizations.has(scope)) return false;
      this.authorizations.set(scope, `Bearer ${this.credentials.token}`);
      return true;
    }
    const realm = challenge.params['realm'];
    if (realm === undefined) return false;
    const tokenUrl = new URL(realm, this.base);
    if (challenge.params['service'] !== undefined) tokenUrl.searchParams.set('service', challenge.params['service']);
    tokenUrl.searchParams.set('scope', scope);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.credentials?.kind === 'basic') headers['authorization'] = basicAuthorization(this.credentials);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(tokenUrl.href, { method: 'GET', headers, dispatcher: this.dispatcher });
    } catch (error) {
      throw new FlotillaError(
        'REGISTRY_UNREACHABLE',
        `the token service ${tokenUrl.host} of registry ${this.base.host} could not be reached: ${(error as Error).message}`,
        { registry: this.base.host },
      );
    }
    const text = await bounded(response);
    if (response.statusCode === 401 || response.statusCode === 403) return false;
    if (response.statusCode !== 200) throw this.refusal(response.statusCode, `GET token for ${scope}`, text);
    let token: unknown;
    try {
      const body = parseJson(text, 'the registry answer') as { token?: unknown; access_token?: unknown };
      token = body.token ?? body.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token === '')
      throw new FlotillaError(
        'REGISTRY_ERROR',
        `the token service of registry ${this.base.host} answered without a token`,
        { registry: this.base.host },
      );
    const previous = this.authorizations.get(scope);
    this.authorizations.set(scope, `Bearer ${token}`);
    return previous !== `Bearer ${token}`;
  }

  private refusal(status: number, what: string, text: string): FlotillaError {
    const code = status === 401 || status === 403 ? 'REGISTRY_UNAUTHORIZED' : 'REGISTRY_ERROR';
    return new FlotillaError(code, `registry ${this.base.host} answered ${status} to ${what}${registryErrors(text)}`, {
      registry: this.base.host,
      status,
    });
  }
}

function pull(repository: string): string {
  return `repository:${repository}:pull`;
}

function push(repository: string): string {
  return `repository:${repository}:pull,push`;
}

function basicAuthorization(credentials: { readonly username: string; readonly password: string }): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

function header(response: Dispatcher.ResponseData, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The start of an error body; a registry's answer is read no further. */
async function bounded(response: Dispatcher.ResponseData): Promise<string> {
  let text = '';
  for await (const chunk of response.body) {
    if (text.length < 8192) text += Buffer.from(chunk as Uint8Array).toString('utf8');
  }
  return text.slice(0, 8192);
}

/** `: NAME_UNKNOWN (repository name not known to registry)` from an OCI error body, if it is one. */
function registryErrors(text: string): string {
  try {
    const body = parseJson(text, 'the registry answer') as { errors?: { code?: unknown; message?: unknown }[] };
    const errors = (body.errors ?? [])
      .filter((e) => typeof e.code === 'string')
      .map((e) => `${String(e.code)}${typeof e.message === 'string' ? ` (${e.message})` : ''}`);
    return errors.length === 0 ? '' : `: ${errors.join('; ')}`;
  } catch {
    return '';
  }
}

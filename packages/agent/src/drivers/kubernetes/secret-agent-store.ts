import type { Logger } from 'pino';
import { z } from 'zod';
import { FlotillaError, generateKeyPair, KeyPair, parseJson, SignedTrustRoot } from '@flotilla/protocol';
import {
  EMPTY_SYNC_STATE,
  Enrollment,
  identityConflict,
  isIdentityConflict,
  KeyRotationState,
  SyncState,
  type AgentStore,
} from '../../agent-state.ts';
import { asRecord } from './as-record.ts';
import { kubeHttpStatus } from './kube-api-error.ts';
import type { KubeClient } from './kube-client.ts';

/** The Secret an agent DaemonSet keeps its identity in, unless told otherwise. */
export const IDENTITY_SECRET_NAME = 'flotilla-agent-identity';
/** The Secret type, so that `kubectl get secrets` says what it holds. */
export const IDENTITY_SECRET_TYPE = 'flotilla.io/agent-identity';

const KEY = 'agent-key.json';
const ENROLLMENT = 'enrollment.json';
const TRUST_ROOT = 'trust-root.json';
const SYNC = 'sync.json';
const SEQ = 'report-seq.json';
const KEY_ROTATION = 'key-rotation.json';

const SeqReservation = z.object({ reserved: z.number().int().min(0) });

export interface SecretAgentStoreOptions {
  readonly client: KubeClient;
  /** The agent's own namespace. */
  readonly namespace: string;
  /** Default `flotilla-agent-identity`. */
  readonly name?: string;
  /** A local folder (an emptyDir in a pod) for the report journal and the bundle cache. */
  readonly dir: string;
  /** How many report numbers one write of the Secret reserves. Default 100. */
  readonly seqBlock?: number;
  readonly log?: Logger;
}

interface Loaded {
  /** The object as read, for a read-modify-write. */
  readonly object: Record<string, unknown>;
  /** The data, decoded from base64. */
  readonly data: Readonly<Record<string, string>>;
}

/**
 * An agent's identity in a Kubernetes Secret that the agent creates and owns, so that every pod
 * of an agent DaemonSet acts as one target: the key pair (made by the first leader, stored before
 * it enrolls), the enrollment, the pinned trust root, what was applied (so the rollback check
 * survives a change of leader), and a reservation of report numbers.
 *
 * Only the leader writes. Each write is a read-modify-write with the Secret's resourceVersion;
 * when the API server answers 409, the Secret is read again and the write is retried only if
 * nobody else changed the keys being written. If another agent did (a new leader took over),
 * the write fails with `CONFLICT`: the old leader must not regress the applied generation or
 * reuse report numbers. Report numbers are handed out from blocks reserved in the Secret
 * (`report-seq.json`), so a new leader continues above every number an earlier one could use,
 * with one write per block instead of one per report.
 *
 * Reads are served from what the store read first or wrote last: make one store per term of
 * leadership.
 */
export class SecretAgentStore implements AgentStore {
  readonly dir: string;
  readonly location: string;
  private readonly client: KubeClient;
  private readonly namespace: string;
  private readonly name: string;
  private readonly path: string;
  private readonly seqBlock: number;
  private readonly log: Logger | undefined;
  private current: Loaded | null | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  private seqNext = 1;
  private seqLimit = 0;

  constructor(options: SecretAgentStoreOptions) {
    for (const field of ['namespace', 'dir'] as const) {
      if (typeof options[field] !== 'string' || options[field] === '')
        throw new TypeError(
          `SecretAgentStore: ${field} must be a non-empty string, received ${JSON.stringify(options[field])}`,
        );
    }
    const name = options.name ?? IDENTITY_SECRET_NAME;
    if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name))
      throw new TypeError(
        `SecretAgentStore: name must be a Secret name (lower-case DNS subdomain), received ${JSON.stringify(name)}`,
      );
    const seqBlock = options.seqBlock ?? 100;
    if (!Number.isInteger(seqBlock) || seqBlock < 1)
      throw new TypeError(
        `SecretAgentStore: seqBlock must be a whole number >= 1, received ${String(options.seqBlock)}`,
      );
    this.client = options.client;
    this.namespace = options.namespace;
    this.name = name;
    this.dir = options.dir;
    this.seqBlock = seqBlock;
    this.log = options.log?.child({ component: 'identity-secret' });
    this.location = `Secret ${options.namespace}/${name}`;
    this.path = `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/secrets/${encodeURIComponent(name)}`;
  }

  async keyPair(): Promise<KeyPair> {
    return this.exclusive(async () => {
      const stored = await this.read(KEY, KeyPair);
      if (stored !== undefined) return stored;
      const key = generateKeyPair();
      try {
        await this.write({ [KEY]: key });
        this.log?.info({ secret: this.location }, 'key pair created and stored');
        return key;
      } catch (error) {
        // Another agent made the key pair first: use that one, so there is one identity.
        if (!isIdentityConflict(error)) throw error;
        const theirs = await this.read(KEY, KeyPair);
        if (theirs === undefined) throw error;
        return theirs;
      }
    });
  }

  async enrollment(): Promise<Enrollment | undefined> {
    return this.exclusive(() => this.read(ENROLLMENT, Enrollment));
  }

  async saveEnrollment(enrollment: Enrollment): Promise<void> {
    await this.exclusive(() => this.write({ [ENROLLMENT]: enrollment }, { 'flotilla.io/target': enrollment.targetId }));
  }

  async trustRoot(): Promise<SignedTrustRoot | undefined> {
    return this.exclusive(() => this.read(TRUST_ROOT, SignedTrustRoot));
  }

  async saveTrustRoot(signed: SignedTrustRoot): Promise<void> {
    await this.exclusive(() => this.write({ [TRUST_ROOT]: signed }));
  }

  async sync(): Promise<SyncState> {
    return this.exclusive(async () => (await this.read(SYNC, SyncState)) ?? EMPTY_SYNC_STATE);
  }

  async saveSync(state: SyncState): Promise<void> {
    await this.exclusive(() => this.write({ [SYNC]: state }));
  }

  async nextReportSeq(): Promise<number> {
    return this.exclusive(async () => {
      if (this.seqNext > this.seqLimit) {
        const reserved = (await this.read(SEQ, SeqReservation))?.reserved ?? 0;
        const from = Math.max(reserved, this.seqLimit) + 1;
        const limit = from + this.seqBlock - 1;
        await this.write({ [SEQ]: { reserved: limit } });
        this.seqNext = from;
        this.seqLimit = limit;
      }
      return this.seqNext++;
    });
  }

  async advanceReportSeq(seq: number): Promise<boolean> {
    return this.exclusive(async () => {
      // Blocks reserved by other pods may reach past `seq`: only a reservation below it in the
      // Secret means the Secret itself went back in time.
      const reserved = (await this.read(SEQ, SeqReservation))?.reserved ?? 0;
      if (this.seqNext > seq) return reserved < seq;
      const from = Math.max(reserved, this.seqLimit, seq) + 1;
      const limit = from + this.seqBlock - 1;
      await this.write({ [SEQ]: { reserved: limit } });
      this.seqNext = from;
      this.seqLimit = limit;
      return reserved < seq;
    });
  }

  async keyRotation(): Promise<KeyRotationState | undefined> {
    return this.exclusive(() => this.read(KEY_ROTATION, KeyRotationState));
  }

  async saveKeyRotation(state: KeyRotationState): Promise<void> {
    await this.exclusive(() => this.write({ [KEY_ROTATION]: state }));
  }

  /** One write of the Secret: the key and the rotation state change together. */
  async commitKey(key: KeyPair, state: KeyRotationState): Promise<void> {
    await this.exclusive(() => this.write({ [KEY]: key, [KEY_ROTATION]: state }));
  }

  // One operation at a time: a reservation and a write must not interleave.
  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.lock.then(operation, operation);
    this.lock = result.catch(() => undefined);
    return result;
  }

  private async load(): Promise<Loaded | null> {
    if (this.current === undefined) this.current = await this.fetch();
    return this.current;
  }

  private async fetch(): Promise<Loaded | null> {
    const object = await this.client.getIfExists(this.path);
    if (object === undefined) return null;
    const data: Record<string, string> = {};
    for (const [key, value] of Object.entries(asRecord(object['data']))) {
      if (typeof value === 'string') data[key] = Buffer.from(value, 'base64').toString('utf8');
    }
    return { object, data };
  }

  private async read<S extends z.ZodType>(key: string, schema: S): Promise<z.infer<S> | undefined> {
    const text = (await this.load())?.data[key];
    if (text === undefined) return undefined;
    let value: unknown;
    try {
      value = parseJson(text, `${key} in the ${this.location}`);
    } catch {
      value = undefined;
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new FlotillaError(
        'CONFIG_INVALID',
        `${key} in the ${this.location} is not what the agent wrote; restore the Secret from a backup, or delete it to enroll this cluster anew as a new target`,
      );
    }
    return parsed.data;
  }

  /**
   * Writes `values` (as JSON) into the Secret, creating it if needed. Retries a 409 only when
   * the keys being written are as this store last saw them.
   */
  private async write(values: Record<string, unknown>, annotations: Record<string, string> = {}): Promise<void> {
    const encoded = Object.fromEntries(Object.entries(values).map(([key, value]) => [key, JSON.stringify(value)]));
    for (let attempt = 1; ; attempt++) {
      const base = await this.load();
      const data = { ...base?.data, ...encoded };
      try {
        const written =
          base === null ? await this.create(data, annotations) : await this.replace(base, data, annotations);
        this.current = { object: written, data };
        return;
      } catch (error) {
        if (kubeHttpStatus(error) !== 409) throw error;
        const fresh = await this.fetch();
        this.current = fresh;
        const changed = Object.keys(values).filter((key) => fresh?.data[key] !== base?.data[key]);
        if (changed.length > 0 || attempt >= 3) {
          throw identityConflict(this.location, changed);
        }
      }
    }
  }

  private async create(
    data: Record<string, string>,
    annotations: Record<string, string>,
  ): Promise<Record<string, unknown>> {
    return this.client.call('POST', this.path.slice(0, this.path.lastIndexOf('/')), {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: this.name,
          namespace: this.namespace,
          labels: {
            'app.kubernetes.io/name': 'flotilla-agent',
            'app.kubernetes.io/part-of': 'flotilla',
            'app.kubernetes.io/component': 'identity',
            'app.kubernetes.io/managed-by': 'flotilla-agent',
          },
          ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
        },
        type: IDENTITY_SECRET_TYPE,
        data: encode(data),
      },
    });
  }

  private async replace(
    base: Loaded,
    data: Record<string, string>,
    annotations: Record<string, string>,
  ): Promise<Record<string, unknown>> {
    const metadata = { ...asRecord(base.object['metadata']) };
    // Left out, the server keeps the field managers as they are.
    delete metadata['managedFields'];
    if (Object.keys(annotations).length > 0)
      metadata['annotations'] = { ...asRecord(metadata['annotations']), ...annotations };
    return this.client.call('PUT', this.path, { body: { ...base.object, metadata, data: encode(data) } });
  }
}

function encode(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(data).map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')]),
  );
}

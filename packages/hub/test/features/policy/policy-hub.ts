import { expect } from 'vitest';
import { API_VERSION, generateKeyPair, signBundle, type KeyPair } from '@flotilla/protocol';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

/** A Wednesday, 04:00 in Berlin: before a Mon-Fri 09:00-16:00 Berlin window opens (08:00 UTC). */
export const WEDNESDAY = Date.parse('2030-01-02T03:00:00Z');

type Answer = Promise<{ status: number; body: any }>;

/** A test hub set at {@link WEDNESDAY} with the `payments@1.0.0` release published and targets enrolled. */
export interface PolicyHub {
  readonly hub: TestHub;
  /** The digest of `payments@1.0.0`. */
  readonly digest: string;
  /** The enrolled targets by name. */
  readonly agents: ReadonlyMap<string, ProtocolAgent>;
  post(path: string, body: unknown, token?: string): Answer;
  patch(path: string, body: unknown, token?: string): Answer;
  get(path: string, token?: string): Answer;
  /** Applies a Policy document named `name` scoped by `scope`. */
  policy(name: string, scope: string, spec: Record<string, unknown>): Promise<void>;
  /** Registers an approver key for each identity in the trust root. */
  approvers(identities: readonly string[]): Promise<Map<string, KeyPair>>;
  /** Creates an operator API token and answers it. */
  token(name: string, role: string): Promise<string>;
  /**
   * Fetches the target's envelope as its agent does: a wave's member is issued on that fetch
   * (or by a background batch a while later), so a test looks at desired state after it.
   */
  fetchEnvelope(name: string): Answer;
}

export interface PolicyHubOptions {
  /** The release's placement requirements, if any. */
  readonly placement?: Record<string, unknown>;
  /** Targets to enroll, by name, with the properties each is given. */
  readonly targets: readonly (readonly [string, Readonly<Record<string, string>>])[];
}

/** The setup the hub's policy tests share: one release to place, targets with properties. */
export async function startPolicyHub({ placement, targets }: PolicyHubOptions): Promise<PolicyHub> {
  const hub = await startTestHub();
  hub.advance(WEDNESDAY - hub.now());
  const send = (method: string, path: string, body?: unknown, token = hub.adminToken): Answer =>
    call(hub.url, method, path, { token, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const post = (path: string, body: unknown, token?: string): Answer => send('POST', path, body, token);

  const release = generateKeyPair();
  expect((await post('/v1/trust-root/release-keys', { publicKey: release.publicKey })).status).toBe(200);
  const bundle = signBundle(
    {
      apiVersion: API_VERSION,
      kind: 'Bundle',
      name: 'payments',
      version: '1.0.0',
      resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pay', namespace: 'pay' }, data: {} }],
      ...(placement === undefined ? {} : { placement }),
    },
    [release],
  );
  expect((await post('/v1/bundles', bundle)).status).toBe(201);

  const agents = new Map<string, ProtocolAgent>();
  if (targets.length > 0) {
    const enroll = (await post('/v1/enrollment-tokens', { maxUses: targets.length, labels: {} })).body.token as string;
    for (const [name, properties] of targets) {
      const agent = new ProtocolAgent(hub);
      await agent.enroll(enroll, name, hub.now());
      expect((await send('PATCH', `/v1/targets/${agent.targetId}/properties`, { set: properties })).status).toBe(200);
      agents.set(name, agent);
    }
  }

  return {
    hub,
    digest: bundle.digest,
    agents,
    post,
    patch: (path, body, token) => send('PATCH', path, body, token),
    get: (path, token) => send('GET', path, undefined, token),
    async policy(name, scope, spec) {
      const document = { apiVersion: 'flotilla.io/v1', kind: 'Policy', metadata: { name }, spec: { scope, ...spec } };
      expect((await post('/v1/policies', { document })).status).toBeLessThan(300);
    },
    async approvers(identities) {
      const keys = new Map<string, KeyPair>();
      for (const identity of identities) {
        const key = generateKeyPair();
        keys.set(identity, key);
        expect((await post('/v1/trust-root/approver-keys', { publicKey: key.publicKey, identity })).status).toBe(200);
      }
      return keys;
    },
    async token(name, role) {
      return (await post('/v1/tokens', { name, role })).body.token as string;
    },
    async fetchEnvelope(name) {
      const agent = agents.get(name)!;
      return send('GET', `/v1/targets/${agent.targetId}/envelope`, undefined, await agent.accessToken(hub.now()));
    },
  };
}

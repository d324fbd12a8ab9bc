/**
 * `npm start`: a hub on an embedded SQLite file and a local demo fleet of agents using the
 * manifests-dir driver, all in this process, under .flotilla/demo. Run it again and it picks
 * up where it left off: the hub's data and the agents' identities persist.
 */
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pino } from 'pino';
import { API_VERSION, signBundle } from '@flotilla/protocol';
import { loadManifests, loadOrCreateKeyFile, openHub } from '@flotilla/hub';
import { Agent, ManifestsDirDriver } from '@flotilla/agent';

const FLEET = Number(process.env['FLOTILLA_DEMO_AGENTS'] ?? 5);
const PORT = Number(process.env['FLOTILLA_PORT'] ?? 7070);
const root = resolve(process.env['FLOTILLA_DEMO_DIR'] ?? '.flotilla/demo');
const rel = (path: string): string => relative(process.cwd(), path) || '.';
const log = pino({ level: process.env['FLOTILLA_LOG_LEVEL'] ?? 'warn' });

const { hub, adminTokenPath, createdAdminToken } = await openHub({ dataDir: join(root, 'hub'), log });
let url: string;
try {
  url = await hub.listen(PORT);
} catch {
  url = await hub.listen(0);
}
const { services } = hub;
const operator = { kind: 'user' as const, tokenId: 'demo', name: 'demo', role: 'admin' as const };

// The release key stands in for an author's key; in a real setup it never sits near the hub.
const releaseKeyPath = join(root, 'release-key.json');
const releaseKey = loadOrCreateKeyFile(releaseKeyPath);
services.trust.addReleaseKey(releaseKey.publicKey, 'demo-release', { kind: 'user', id: operator.name });
const manifests = loadManifests(resolve('examples/hello'));
const release = signBundle(
  { apiVersion: API_VERSION, kind: 'Bundle', name: 'hello', version: '1.0.0', resources: manifests },
  [releaseKey],
);
// Publishing the same release again is a no-op, so a restarted demo reuses it.
services.bundles.publish(release, operator);

const token = services.identity.createEnrollmentToken(
  { ttlSeconds: 3600, maxUses: FLEET, labels: { fleet: 'demo' } },
  operator,
).token!;
const agents = await Promise.all(
  Array.from({ length: FLEET }, async (_, i) => {
    const dir = join(root, 'agents', `edge-${i + 1}`);
    const agent = new Agent({
      hubUrl: url,
      stateDir: join(dir, 'state'),
      driver: new ManifestsDirDriver(join(dir, 'root')),
      log,
      enrollToken: token,
      name: `edge-${i + 1}`,
      waitSeconds: 30,
      observeIntervalMs: 15_000,
    });
    const enrollment = await agent.start();
    return { agent, enrollment, dir };
  }),
);
for (const { enrollment } of agents) {
  if (services.targets.get(enrollment.targetId).desired.generation === 0)
    services.desired.assign(enrollment.targetId, ['hello@1.0.0'], { kind: 'user', id: 'demo' });
}

const first = agents[0]!;
process.stdout.write(`
Flotilla hub listening on ${url}
  dashboard:   ${url}/ (sign in with the admin token)
  data:        ${rel(join(root, 'hub'))} (SQLite: hub.db)
  admin token: ${rel(adminTokenPath)}${createdAdminToken === undefined ? '' : ' (created now)'}
  fleet:       ${FLEET} demo agents (manifests-dir driver) under ${rel(join(root, 'agents'))}, running hello@1.0.0

Try, in another terminal:
  export FLOTILLA_HUB=${url} FLOTILLA_TOKEN_FILE=${rel(adminTokenPath)}
  npx flotilla targets ls
  npx flotilla targets get ${first.enrollment.targetId}
  ls ${rel(join(first.dir, 'root'))}
  npx flotilla release publish examples/hello --name hello --version 1.1.0 --key ${rel(releaseKeyPath)}
  npx flotilla rollout create --release hello@1.1.0 --selector 'fleet=demo' --waves canary:20%,rest:100%
  npx flotilla rollout ls
  npx flotilla targets ls -q 'running.hello=1.1'
  npx flotilla audit ls --limit 10

Press Ctrl-C to stop.
`);

const stop = async (): Promise<void> => {
  await Promise.all(agents.map(({ agent }) => agent.stop()));
  await hub.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
if (!existsSync(adminTokenPath)) log.warn({ adminTokenPath }, 'admin token file missing');

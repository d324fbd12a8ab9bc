/**
 * `npm start`: a hub on an embedded SQLite file and a local demo fleet of agents using the
 * manifests-dir driver, all in this process, under .flotilla/demo. Run it again and it picks
 * up where it left off: the hub's data and the agents' identities persist.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { API_VERSION, signBundle, type Target } from '@flotilla/protocol';
import { cliConfigPath, loadManifests, loadOrCreateKeyFile, openHub, saveContext } from '@flotilla/hub';
import { createLogger, stopOnSignals } from '@flotilla/runtime';
import { Agent, ManifestsDirDriver } from '@flotilla/agent';

const FLEET = Number(process.env['FLOTILLA_DEMO_AGENTS'] ?? 5);
const PORT = Number(process.env['FLOTILLA_PORT'] ?? 7070);
const root = resolve(process.env['FLOTILLA_DEMO_DIR'] ?? '.flotilla/demo');
const rel = (path: string): string => relative(process.cwd(), path) || '.';
const log = await createLogger({
  level: process.env['FLOTILLA_LOG_LEVEL'] ?? 'warn',
  format: process.env['FLOTILLA_LOG_FORMAT'] === 'json' ? 'json' : 'pretty',
});

const { hub, adminTokenPath, createdAdminToken } = await openHub({ dataDir: join(root, 'hub'), log });
let url: string;
let portNote = '';
try {
  url = await hub.listen(PORT);
} catch (error) {
  if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
  url = await hub.listen(0);
  portNote = `port ${PORT} is busy (another demo or hub?), so the hub took port ${new URL(url).port} instead`;
  process.stderr.write(`demo: ${portNote}\n`);
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

stopOnSignals(async () => {
  await Promise.all(agents.map(({ agent }) => agent.stop()));
  await hub.close();
}, log);

/** What the fleet runs: each set of releases with how many targets run it (reported, else assigned). */
function fleetRuns(targets: readonly Target[]): string {
  const counts = new Map<string, number>();
  for (const target of targets) {
    const bundles = target.observed?.bundles ?? target.desired.bundles;
    const text = bundles.map((b) => `${b.name}@${b.version}`).join(' + ') || 'nothing yet';
    counts.set(text, (counts.get(text) ?? 0) + 1);
  }
  return [...counts].map(([text, n]) => (counts.size === 1 ? text : `${text} on ${n}`)).join(', ');
}

/** A version above every published hello release, for the next one to publish. */
function nextVersion(): string {
  const versions = services.bundles
    .list()
    .items.filter((r) => r.name === 'hello')
    .map((r) => /^(\d+)\.(\d+)\.(\d+)$/.exec(r.version))
    .filter((m) => m !== null)
    .map((m) => [Number(m[1]), Number(m[2])] as const)
    .sort((a, b) => b[0] - a[0] || b[1] - a[1]);
  const [major, minor] = versions[0] ?? [1, 0];
  return `${major}.${minor + 1}.0`;
}

// The operator's context, so that `npx flotilla` in any shell talks to this hub.
const configFile = cliConfigPath(process.env);
let contextNote: string;
if (!existsSync(adminTokenPath)) {
  contextNote = `not saved: ${rel(adminTokenPath)} is gone (the hub keeps only its hash)`;
  log.warn({ adminTokenPath }, 'admin token file is gone; the hub keeps only its hash');
} else {
  const token = readFileSync(adminTokenPath, 'utf8').trim();
  const previous = saveContext(configFile, { name: 'demo', hub: url, token });
  contextNote = `demo, saved in ${configFile} and in use${previous === undefined ? '' : ` (flotilla context use ${previous} goes back)`}`;
}

const first = agents[0]!;
const next = nextVersion();
const running = fleetRuns(agents.map(({ enrollment }) => services.targets.get(enrollment.targetId)));
process.stdout.write(`
Flotilla hub listening on ${url}${portNote === '' ? '' : `\n  note:        ${portNote}`}
  dashboard:   ${url}/ (sign in with the admin token)
  data:        ${rel(join(root, 'hub'))} (SQLite: hub.db)
  admin token: ${rel(adminTokenPath)}${createdAdminToken === undefined ? '' : ' (created now)'}
  context:     ${contextNote}
  fleet:       ${FLEET} demo agents (manifests-dir driver) under ${rel(join(root, 'agents'))}, running ${running}

Try, in another terminal:
  npx flotilla targets ls
  npx flotilla targets get ${first.enrollment.targetId}
  ls ${rel(join(first.dir, 'root'))}
  npx flotilla release publish examples/hello --name hello --version ${next} --key ${rel(releaseKeyPath)}
  npx flotilla rollout create --release hello@${next} --selector 'fleet=demo' --waves canary:20%,rest:100%
  npx flotilla rollout ls --watch
  npx flotilla targets ls -q 'running.hello=${next}'
  npx flotilla audit ls --limit 10

Press Ctrl-C to stop (twice to stop at once).
`);

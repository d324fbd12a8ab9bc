import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { isMap, isScalar, isSeq, parseAllDocuments, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { FlotillaError, messageOf, parseHubUrls } from '@flotilla/protocol';
import { joinRepeated } from '../repeated-option.ts';

/**
 * The agent manifests shipped with Flotilla: `deploy/agent` of the repository or image this file
 * runs from, else the copy `npm pack` puts into the hub package (`agent-manifests/`).
 */
const AGENT_MANIFESTS_DIR =
  [new URL('../../../../../deploy/agent/', import.meta.url), new URL('../../../agent-manifests/', import.meta.url)]
    .map((url) => fileURLToPath(url))
    .find((dir) => existsSync(dir)) ?? fileURLToPath(new URL('../../../../../deploy/agent/', import.meta.url));
/** The namespace the shipped manifests use. */
export const DEFAULT_AGENT_NAMESPACE = 'flotilla-system';
/** The image the shipped manifests name: a placeholder for the image you build and push. */
const DEFAULT_AGENT_IMAGE = 'registry.example.com/flotilla/flotilla-agent:0.1.0';

const ENROLLMENT_SECRET = 'flotilla-agent-enrollment';

const AgentManifestOptions = z.object({
  /** One hub URL, or several replicas' separated by commas: FLOTILLA_HUB takes the list as it is. */
  hub: z.string().transform((value, ctx) => {
    try {
      return parseHubUrls(value, 'hub').join(',');
    } catch (error) {
      ctx.issues.push({
        code: 'custom',
        input: value,
        message: `${messageOf(error)} (the hub as agents reach it, such as https://hub.example.com; several replicas separated by commas)`,
      });
      return z.NEVER;
    }
  }),
  enrollToken: z.string().min(1).regex(/^\S+$/, 'must be a token from `flotilla enroll-token create`, without spaces'),
  namespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a lower-case DNS label (letters, digits, -; at most 63)')
    .default(DEFAULT_AGENT_NAMESPACE),
  image: z
    .string()
    .regex(/^[^\s]+$/, 'must be an image reference without spaces')
    .default(DEFAULT_AGENT_IMAGE),
  name: z.string().min(1).max(63).optional(),
  trustRootPin: z
    .string()
    .regex(/^[0-9a-f]{16}$|^[A-Za-z0-9_-]{43}$/, 'must be a root key id (16 hex digits, from `flotilla keys ls`)')
    .optional(),
  manifests: z.string().min(1).default(AGENT_MANIFESTS_DIR),
});
export type AgentManifestOptions = z.input<typeof AgentManifestOptions>;

const Kustomization = z.object({ resources: z.array(z.string().min(1)).min(1) });

function invalid(message: string): FlotillaError {
  return new FlotillaError('CONFIG_INVALID', message);
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw invalid(
      `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'unknown error'}); pass --manifests DIR with the agent manifests (deploy/agent in the Flotilla repository)`,
    );
  }
}

/** Sets `value` of the `env` entry called `name` in the first container, if the manifest lists it. */
function setEnv(doc: Document, name: string, value: string): void {
  const env = doc.getIn(['spec', 'template', 'spec', 'containers', 0, 'env']);
  if (!isSeq(env)) return;
  for (const item of env.items) {
    if (isMap(item) && item.get('name') === name) item.set('value', value);
  }
}

/** Renames a cluster-scoped object (and what refers to it), so installs in two namespaces do not collide. */
function clusterScopedName(name: string, namespace: string): string {
  return namespace === DEFAULT_AGENT_NAMESPACE ? name : `${name}-${namespace}`;
}

function customize(doc: Document, options: z.output<typeof AgentManifestOptions>, file: string): void {
  const kind = doc.get('kind');
  const name = doc.getIn(['metadata', 'name']);
  if (typeof kind !== 'string' || typeof name !== 'string')
    throw invalid(`${file}: every document must have kind and metadata.name`);
  const ns = options.namespace;
  if (kind === 'Namespace') doc.setIn(['metadata', 'name'], ns);
  if (doc.hasIn(['metadata', 'namespace'])) doc.setIn(['metadata', 'namespace'], ns);
  if (kind === 'ClusterRole' || kind === 'ClusterRoleBinding')
    doc.setIn(['metadata', 'name'], clusterScopedName(name, ns));
  if (kind === 'ClusterRoleBinding') {
    const roleRef = doc.getIn(['roleRef', 'name']);
    if (typeof roleRef === 'string') doc.setIn(['roleRef', 'name'], clusterScopedName(roleRef, ns));
  }
  const subjects = doc.get('subjects');
  if (isSeq(subjects)) {
    for (const subject of subjects.items)
      if (isMap(subject) && subject.get('kind') === 'ServiceAccount') subject.set('namespace', ns);
  }
  if (kind === 'Secret' && name === ENROLLMENT_SECRET) doc.setIn(['stringData', 'token'], options.enrollToken);
  if (kind === 'DaemonSet') {
    const containers = doc.getIn(['spec', 'template', 'spec', 'containers']);
    if (!isSeq(containers) || containers.items.length === 0) throw invalid(`${file}: the DaemonSet has no containers`);
    doc.setIn(['spec', 'template', 'spec', 'containers', 0, 'image'], options.image);
    setEnv(doc, 'FLOTILLA_HUB', options.hub);
    setEnv(doc, 'FLOTILLA_AGENT_NAME', options.name ?? '');
    setEnv(doc, 'FLOTILLA_TRUST_ROOT_PIN', options.trustRootPin ?? '');
  }
}

/**
 * The agent's manifests as one multi-document YAML stream, ready for `kubectl apply -f -`:
 * the files of `deploy/agent` in the order its kustomization lists them, with the hub URL, the
 * enrollment token (in the Secret the DaemonSet reads it from), the image, the target name, the
 * trust-root pin and the namespace filled in. Comments are kept, so the RBAC rules still say
 * why they are there.
 */
export function agentManifests(input: AgentManifestOptions): string {
  const parsed = AgentManifestOptions.safeParse(input);
  if (!parsed.success) throw invalid(z.prettifyError(parsed.error).replace(/\n/g, '; '));
  const options = parsed.data;
  const kustomizationPath = join(options.manifests, 'kustomization.yaml');
  const kustomization = Kustomization.safeParse(parseDocument(readText(kustomizationPath)).toJS());
  if (!kustomization.success) throw invalid(`${kustomizationPath} must list the manifest files under resources`);
  const out: string[] = [
    '# Flotilla agent manifests, printed by `flotilla install agent`.',
    `# Namespace ${options.namespace}, hub ${options.hub}, image ${options.image}.`,
    '# This stream holds the enrollment token: apply it (kubectl apply -f -) rather than commit it.',
  ];
  for (const resource of kustomization.data.resources) {
    const file = join(options.manifests, resource);
    for (const doc of parseAllDocuments(readText(file))) {
      if (doc.errors.length > 0) throw invalid(`${file}: ${doc.errors[0]!.message}`);
      if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) continue;
      customize(doc, options, file);
      doc.directives.docStart = true;
      out.push(doc.toString({ lineWidth: 0, flowCollectionPadding: false }).trimEnd());
    }
  }
  return `${out.join('\n')}\n`;
}

/** `flotilla install agent`: prints the agent's manifests for one cluster. */
export function installCommand(program: Command): void {
  const install = program.command('install').description('print manifests that install Flotilla components');
  install
    .command('agent')
    .description(
      'print the agent DaemonSet, its RBAC and its enrollment Secret for one cluster; pipe to `kubectl apply -f -`',
    )
    .requiredOption('--enroll-token <token>', 'an enrollment token (flotilla enroll-token create)')
    // `flotilla` has a global --hub too, and commander gives the value to whichever it meets
    // first, so it is read from both and checked here rather than declared required.
    .option(
      '--hub <url>',
      'the hub URL as the cluster reaches it (required); several replicas: repeat it or separate URLs with commas',
      joinRepeated,
    )
    .option('--namespace <namespace>', `the agent's namespace (default ${DEFAULT_AGENT_NAMESPACE})`)
    .option('--image <image>', 'the agent image you built and pushed (deploy/Containerfile.agent)')
    .option('--name <name>', 'the target name to ask for at enrollment')
    .option('--trust-root-pin <key-id>', "the hub's root key id (flotilla keys ls); the agent refuses a hub without it")
    .option('--manifests <dir>', 'a copy of deploy/agent to start from')
    .action(
      (
        flags: {
          enrollToken: string;
          hub?: string;
          namespace?: string;
          image?: string;
          name?: string;
          trustRootPin?: string;
          manifests?: string;
        },
        command: Command,
      ) => {
        const hub = flags.hub ?? command.optsWithGlobals<{ hub?: string }>().hub;
        if (hub === undefined)
          throw invalid(
            'install agent needs --hub URL: the hub as the agents in the cluster reach it, such as https://hub.example.com',
          );
        process.stdout.write(agentManifests({ ...flags, hub }));
      },
    );
}

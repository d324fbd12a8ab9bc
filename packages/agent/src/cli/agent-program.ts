import type { Command } from 'commander';
import { AGENT_VERSION } from '../version.ts';
import { CliCommand } from '@flotilla/runtime';

/** `flotilla-agent offline <action>`: the action, its file argument and the flags as commander parsed them. */
export type OfflineAction = (
  action: 'import' | 'export-reports' | 'import-receipt',
  file: string,
  flags: Record<string, unknown>,
) => Promise<void>;

/**
 * The `flotilla-agent` command line: `run`, whose flags are the settings `runConfig` reads (each
 * flag names the FLOTILLA_* variable it overrides), `rotate-key`, which asks the agent of a
 * state directory to rotate its key, and `offline`, the air-gap exchange on a state directory.
 * Each is called with the flags as commander parsed them; the program throws a CommanderError
 * (help, version) or a UsageError instead of exiting.
 */

export function agentProgram(
  run: (flags: Record<string, unknown>) => Promise<void>,
  rotateKey: (flags: { stateDir?: string }) => Promise<void> = async () => undefined,
  offline?: OfflineAction,
): Command {
  const program = new CliCommand('flotilla-agent')
    .description('the Flotilla agent: pulls signed desired state from the hub, applies it, observes and reports')
    .version(AGENT_VERSION, '-V, --version', 'print the version')
    .exitOverride();
  program
    .command('run')
    .description('enroll (first start only) and keep the target in its desired state')
    .option(
      '--hub <url>',
      'the hub URL; several replicas: repeat the flag or separate URLs with commas, the agent moves to the next when one stops answering (env FLOTILLA_HUB)',
      (value: string, previous: string | undefined) => (previous === undefined ? value : `${previous},${value}`),
    )
    .option('--enroll-token <token>', 'enrollment token, needed on first start only (env FLOTILLA_ENROLL_TOKEN)')
    .option(
      '--state-dir <dir>',
      'manifests-dir: key pair, enrollment, journal; kubernetes: journal, bundle cache and inventory only (env FLOTILLA_AGENT_STATE_DIR)',
    )
    .option('--name <name>', 'the target name to ask for at enrollment (env FLOTILLA_AGENT_NAME)')
    .option('--driver <driver>', 'manifests-dir or kubernetes (env FLOTILLA_AGENT_DRIVER)')
    .option('--root <dir>', 'manifests-dir: the directory to write manifests into (env FLOTILLA_AGENT_ROOT)')
    .option(
      '--kubeconfig <file>',
      "kubernetes: a kubeconfig file; default the pod's service account (env FLOTILLA_AGENT_KUBECONFIG)",
    )
    .option(
      '--context <name>',
      'kubernetes: a context of the kubeconfig other than the current one (env FLOTILLA_AGENT_KUBE_CONTEXT)',
    )
    .option(
      '--namespace <ns>',
      "kubernetes: where the Lease and identity Secret live; default the pod's namespace, else flotilla-system (env FLOTILLA_AGENT_NAMESPACE)",
    )
    .option(
      '--pod-name <name>',
      'kubernetes: this pod, the candidate in the Lease; default the hostname (env FLOTILLA_AGENT_POD_NAME)',
    )
    .option('--node-name <name>', 'kubernetes: the node this pod runs on (env FLOTILLA_AGENT_NODE_NAME)')
    .option(
      '--leader-election',
      'kubernetes: one pod syncs, the others stand by (default; env FLOTILLA_AGENT_LEADER_ELECTION)',
    )
    .option('--no-leader-election', 'kubernetes: sync without a Lease, for a single replica')
    .option('--lease-name <name>', 'kubernetes: the Lease (default flotilla-agent; env FLOTILLA_AGENT_LEASE_NAME)')
    .option(
      '--lease-seconds <n>',
      "kubernetes: how long a leader's Lease lasts without renewal (default 15; env FLOTILLA_AGENT_LEASE_SECONDS)",
    )
    .option(
      '--identity-secret <name>',
      'kubernetes: the Secret holding the key pair and enrollment (default flotilla-agent-identity; env FLOTILLA_AGENT_IDENTITY_SECRET)',
    )
    .option(
      '--trust-root-pin <key-id>',
      "a root key id (flotilla keys ls) the hub's trust root must hold at enrollment (env FLOTILLA_TRUST_ROOT_PIN)",
    )
    .option('--health-port <port>', 'serve /healthz and /readyz on this port (env FLOTILLA_AGENT_HEALTH_PORT)')
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics at /metrics on this port, without authentication (env FLOTILLA_AGENT_METRICS_PORT)',
    )
    .option('--wait-seconds <n>', 'how long one long-poll waits at the hub (env FLOTILLA_AGENT_WAIT_SECONDS)')
    .option(
      '--transport <how>',
      'auto (push stream, long-poll when its upgrade is refused) or long-poll (env FLOTILLA_AGENT_TRANSPORT)',
    )
    .option(
      '--reconnect-window-seconds <n>',
      'after a hub restart, reconnect at a random moment within this, default 30 (env FLOTILLA_AGENT_RECONNECT_WINDOW_SECONDS)',
    )
    .option('--observe-seconds <n>', 'how often resources are re-observed (env FLOTILLA_AGENT_OBSERVE_SECONDS)')
    .option(
      '--key-rotation-days <n>',
      'rotate the agent key once it is this old, 0 for on demand only (default 90; env FLOTILLA_AGENT_KEY_ROTATION_DAYS)',
    )
    .option('--inbox <dir>', 'watch this directory for transfer files and receipts (env FLOTILLA_AGENT_INBOX)')
    .option(
      '--outbox <dir>',
      'write reports files into this directory for the hub, e.g. a data diode (env FLOTILLA_AGENT_OUTBOX)',
    )
    .option(
      '--outbox-seconds <n>',
      'how often the outbox gets a new reports file when there are new reports, default 300 (env FLOTILLA_AGENT_OUTBOX_SECONDS)',
    )
    .option(
      '--registry <url>',
      'the site registry images from transfer files are pushed into (env FLOTILLA_AGENT_REGISTRY)',
    )
    .option(
      '--registry-credentials <file>',
      "the site registry's credentials: a Docker config.json or a Secret manifest (env FLOTILLA_AGENT_REGISTRY_CREDENTIALS)",
    )
    .option('--log-level <level>', 'fatal, error, warn, info, debug (env FLOTILLA_LOG_LEVEL)')
    .option(
      '--log-format <format>',
      'json, or pretty for people; default pretty on a terminal, json otherwise (env FLOTILLA_LOG_FORMAT)',
    )
    .action(run);
  program
    .command('rotate-key')
    .description(
      'rotate the agent key of a state directory: the running agent does it at its next turn, a stopped one at its next start',
    )
    .option('--state-dir <dir>', 'the agent state directory (env FLOTILLA_AGENT_STATE_DIR)')
    .action(rotateKey);
  if (offline !== undefined) offlineCommands(program, offline);
  return program;
}

/** `flotilla-agent offline`: the air-gap exchange on a state directory (docs/air-gap.md). */
function offlineCommands(program: Command, action: OfflineAction): void {
  const offline = program
    .command('offline')
    .description('air-gapped sites: import transfer files, export reports, import receipts (docs/air-gap.md)');
  const common = (command: Command): Command =>
    command
      .option('--state-dir <dir>', "the agent's state directory (env FLOTILLA_AGENT_STATE_DIR)")
      .option(
        '--log-level <level>',
        'fatal, error, warn, info, debug; default warn; JSON lines on stderr (env FLOTILLA_LOG_LEVEL)',
      );
  common(
    offline
      .command('import <file>')
      .description('verify a transfer file whole, push its images into the site registry, and apply it')
      .option('--driver <driver>', 'manifests-dir (env FLOTILLA_AGENT_DRIVER)')
      .option('--root <dir>', 'the directory to write manifests into (env FLOTILLA_AGENT_ROOT)')
      .option('--registry <url>', 'the site registry for the images (env FLOTILLA_AGENT_REGISTRY)')
      .option(
        '--registry-credentials <file>',
        'a Docker config.json or a Secret manifest (env FLOTILLA_AGENT_REGISTRY_CREDENTIALS)',
      ),
  ).action((file: string, flags: Record<string, unknown>) => action('import', file, flags));
  common(
    offline
      .command('export-reports')
      .description('write every journaled report as one signed, chained reports file to carry to the hub')
      .requiredOption('--out <file>', 'the reports file to write (it must not exist)'),
  ).action((flags: Record<string, unknown>) => action('export-reports', flags['out'] as string, flags));
  common(
    offline.command('import-receipt <file>').description("verify the hub's receipt and drop the reports it confirms"),
  ).action((file: string, flags: Record<string, unknown>) => action('import-receipt', file, flags));
}

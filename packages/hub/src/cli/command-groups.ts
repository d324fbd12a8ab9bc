import type { Command } from 'commander';
import type { CliEnvironment } from './cli-environment.ts';

/**
 * A top-level command of `flotilla` (with its subcommands). Its module is imported only when
 * the command runs, so `flotilla --help` and every other command skip the rest; the program
 * shows `summary` in its help, and a test checks it matches the module's description.
 *
 * To add a command: write `commands/<name>.ts` exporting a function that adds it to the program,
 * and add an entry here. It gets one-line errors, `--hub`/`--token`/`--context` after its name,
 * and shell completion from the program.
 */
export interface CommandGroup {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly summary: string;
  register(program: Command, cli: CliEnvironment): Promise<void>;
}

export const COMMAND_GROUPS: readonly CommandGroup[] = [
  {
    name: 'hub',
    summary: 'run the hub',
    register: async (program) => (await import('./commands/serve.ts')).serveCommand(program),
  },
  {
    name: 'login',
    summary: 'save a hub and an API token as a context, and use it from now on',
    register: async (program, cli) => (await import('./commands/context.ts')).loginCommand(program, cli),
  },
  {
    name: 'context',
    summary: 'the saved hubs and tokens (contexts): list them, pick one, remove one',
    register: async (program, cli) => (await import('./commands/context.ts')).contextCommand(program, cli),
  },
  {
    name: 'enroll-token',
    summary: 'tokens with which agents enroll',
    register: async (program, cli) =>
      (await import('./commands/enroll-token.ts')).enrollTokenCommand(program, cli.client),
  },
  {
    name: 'token',
    summary: "operators' API tokens: roles, scopes and lifetimes",
    register: async (program, cli) => (await import('./commands/token.ts')).tokenCommand(program, cli.client),
  },
  {
    name: 'keys',
    summary: 'release keys: made and held by authors, registered in the trust root',
    register: async (program, cli) => (await import('./commands/keys.ts')).keysCommand(program, cli.client),
  },
  {
    name: 'release',
    aliases: ['bundle'],
    summary: 'releases: immutable, content-addressed, signed sets of manifests (also: bundle)',
    register: async (program, cli) => (await import('./commands/release.ts')).releaseCommand(program, cli.client),
  },
  {
    name: 'root',
    summary: 'trust root versions signed offline: draft, sign where the root keys are, publish',
    register: async (program, cli) => (await import('./commands/root.ts')).rootCommand(program, cli.client),
  },
  {
    name: 'rollout',
    summary: 'roll a release out to the targets a selector picks, in waves with gates (docs/rollouts.md)',
    register: async (program, cli) => (await import('./commands/rollout.ts')).rolloutCommand(program, cli.client),
  },
  {
    name: 'targets',
    summary: 'the fleet: every enrolled target as a record',
    register: async (program, cli) => (await import('./commands/targets.ts')).targetsCommand(program, cli.client),
  },
  {
    name: 'assign',
    summary: 'set the releases a target should run (name@version or digest); its generation goes up by one',
    register: async (program, cli) => (await import('./commands/targets.ts')).assignCommand(program, cli.client),
  },
  {
    name: 'install',
    summary: 'print manifests that install Flotilla components',
    register: async (program) => (await import('./commands/install.ts')).installCommand(program),
  },
  {
    name: 'audit',
    summary: 'the audit trail: hash-chained, signed, queryable, exportable, verifiable offline',
    register: async (program, cli) => (await import('./commands/audit.ts')).auditCommand(program, cli.client),
  },
  {
    name: 'drift',
    summary: 'drift: what differs from desired state, why, and what was done (docs/drift.md)',
    register: async (program, cli) => (await import('./commands/drift.ts')).driftCommand(program, cli.client),
  },
  {
    name: 'incident',
    summary: 'incidents: hold back every revert on the targets a selector picks (docs/drift.md)',
    register: async (program, cli) => (await import('./commands/incident.ts')).incidentCommand(program, cli.client),
  },
  {
    name: 'policy',
    summary: 'compliance policies: placement, artifacts, approvals and windows, per scope (docs/policy.md)',
    register: async (program, cli) => (await import('./commands/policy.ts')).policyCommand(program, cli.client),
  },
  {
    name: 'policy-set',
    summary: 'the live policies as one versioned set signed by policy keys: draft, sign away from the hub, publish',
    register: async (program, cli) => (await import('./commands/policy-set.ts')).policySetCommand(program, cli.client),
  },
  {
    name: 'offline',
    summary: 'air-gapped sites: transfer files out, reports files in, receipts back (docs/air-gap.md)',
    register: async (program, cli) => (await import('./commands/offline.ts')).offlineCommand(program, cli.client),
  },
  {
    name: 'store',
    summary:
      "the hub's store: copy it from SQLite to PostgreSQL for replicas, or back (docs/scale-out.md); compact a SQLite one",
    register: async (program, cli) => (await import('./commands/store.ts')).storeCommand(program, cli.env),
  },
  {
    name: 'completion',
    summary: 'print a shell completion script: bash, zsh or fish',
    register: async (program) => (await import('./commands/completion.ts')).completionCommand(program),
  },
];

import { Command } from 'commander';
import { ApiClient } from './api-client.ts';
import { clientConfig } from '../config.ts';
import { serveCommand } from './commands/serve.ts';
import { enrollTokenCommand } from './commands/enroll-token.ts';
import { keysCommand } from './commands/keys.ts';
import { releaseCommand } from './commands/release.ts';
import { rolloutCommand } from './commands/rollout.ts';
import { assignCommand, targetsCommand } from './commands/targets.ts';
import { installCommand } from './commands/install.ts';
import { auditCommand } from './commands/audit.ts';
import { driftCommand } from './commands/drift.ts';
import { incidentCommand } from './commands/incident.ts';

/** The `flotilla` command line: the hub server and the operator's commands. */
export function buildProgram(env: Readonly<Record<string, string | undefined>>): Command {
  const program = new Command('flotilla')
    .description('Flotilla: the control plane for fleets of Kubernetes clusters and edge sites')
    .option('--hub <url>', 'the hub API (env FLOTILLA_HUB, default http://127.0.0.1:7070)')
    .option('--token <token>', 'an API token (env FLOTILLA_TOKEN)')
    .option('--token-file <file>', 'a file holding the API token (default: <data dir>/admin-token)')
    .option('--data-dir <dir>', 'the local hub data directory, for its admin token')
    .showHelpAfterError()
    .exitOverride();
  const client = (): ApiClient => {
    const config = clientConfig(program.opts(), env);
    return new ApiClient(config.hub, config.token);
  };
  serveCommand(program.command('hub').description('run the hub'));
  enrollTokenCommand(program, client);
  keysCommand(program, client);
  releaseCommand(program, client);
  rolloutCommand(program, client);
  targetsCommand(program, client);
  assignCommand(program, client);
  installCommand(program);
  auditCommand(program, client);
  driftCommand(program, client);
  incidentCommand(program, client);
  return program;
}

import { describe, expect, it } from 'vitest';
import { agentProgram } from '../../src/cli/agent-program.ts';
import { RUN_ENVIRONMENT } from '../../src/config.ts';

function runCommand() {
  const run = agentProgram(async () => undefined).commands.find((command) => command.name() === 'run');
  if (run === undefined) throw new Error('no run command');
  return run;
}

describe('the flotilla-agent command line', () => {
  it.each(Object.entries(RUN_ENVIRONMENT))('offers a flag for %s that names its variable %s', (setting, variable) => {
    const flags = runCommand().options.filter((option) => option.attributeName() === setting);
    expect(flags.map((flag) => flag.description).some((text) => text.includes(`env ${variable})`))).toBe(true);
  });

  it('hands the parsed flags to run', async () => {
    const seen: Record<string, unknown>[] = [];
    await agentProgram(async (flags) => void seen.push(flags)).parseAsync(
      ['run', '--hub', 'https://hub.example', '--no-leader-election', '--wait-seconds', '5'],
      { from: 'user' },
    );
    expect(seen).toEqual([{ hub: 'https://hub.example', leaderElection: false, waitSeconds: '5' }]);
  });

  it('joins a repeated --hub into one list of replicas', async () => {
    const seen: Record<string, unknown>[] = [];
    await agentProgram(async (flags) => void seen.push(flags)).parseAsync(
      ['run', '--hub', 'https://hub-0.example', '--hub', 'https://hub-1.example,https://hub-2.example'],
      { from: 'user' },
    );
    expect(seen).toEqual([{ hub: 'https://hub-0.example,https://hub-1.example,https://hub-2.example' }]);
  });
});

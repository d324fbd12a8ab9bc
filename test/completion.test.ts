import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { childEnv, flotilla, FLOTILLA } from './fixtures/cli.ts';
import { tempDir } from './fixtures/temp-dir.ts';

describe('shell completion', () => {
  let dir: { path: string; remove: () => void };
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = tempDir('flotilla-completion-');
    // `flotilla` on the PATH, as an installed one would be, and a context to complete.
    const bin = join(dir.path, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'flotilla'), `#!/bin/sh\nexec "${process.execPath}" "${FLOTILLA}" "$@"\n`);
    chmodSync(join(bin, 'flotilla'), 0o755);
    env = childEnv({ PATH: `${bin}:${process.env['PATH']}`, XDG_CONFIG_HOME: join(dir.path, 'config') });
    execFileSync('mkdir', ['-p', join(dir.path, 'config', 'flotilla')]);
    writeFileSync(
      join(dir.path, 'config', 'flotilla', 'config.yaml'),
      'contexts:\n  - { name: lab, hub: "http://127.0.0.1:7070", token: t }\n  - { name: prod, hub: "https://hub.example.com", token: t }\n',
    );
  });

  afterAll(() => dir.remove());

  /** Loads `flotilla completion bash` into bash and completes `line` (the cursor at its end). */
  function completeInBash(line: string): string[] {
    const script = `
source <(flotilla completion bash)
COMP_LINE=${JSON.stringify(line)}
read -r -a COMP_WORDS <<< "$COMP_LINE"
if [[ "$COMP_LINE" == *" " ]]; then COMP_WORDS+=(""); fi
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
complete -p flotilla >/dev/null || exit 3
_flotilla
printf '%s\\n' "\${COMPREPLY[@]}"
`;
    const output = execFileSync('bash', ['--noprofile', '--norc', '-c', script], { env, encoding: 'utf8' });
    return output.split('\n').filter((w) => w !== '');
  }

  it('loads in bash and completes commands, subcommands and options', () => {
    expect(completeInBash('flotilla tar')).toEqual(['targets']);
    expect(completeInBash('flotilla targets ')).toEqual(
      expect.arrayContaining(['ls', 'get', 'facets', 'label', 'set', 'history', 'revoke', 'disable', 'enable']),
    );
    expect(completeInBash('flotilla targets ls --li')).toEqual(['--limit']);
    expect(completeInBash('flotilla --hub http://h targets ls -o ')).toEqual(['json', 'table', 'yaml']);
    expect(completeInBash('flotilla rollout ls --w')).toEqual(['--watch']);
    // Options of the program are offered after a command too, as they are accepted there.
    expect(completeInBash('flotilla drift ls --con')).toEqual(['--context']);
  });

  it('completes the saved context names and the shells', () => {
    expect(completeInBash('flotilla context use ')).toEqual(['lab', 'prod']);
    expect(completeInBash('flotilla --context p')).toEqual(['prod']);
    expect(completeInBash('flotilla completion ')).toEqual(['bash', 'fish', 'zsh']);
  });

  it('prints a script for zsh and fish that asks flotilla for the words', async () => {
    for (const shell of ['zsh', 'fish']) {
      const run = await flotilla(['completion', shell]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('flotilla __complete');
    }
    expect((await flotilla(['completion', 'zsh'])).stdout.startsWith('#compdef flotilla\n')).toBe(true);
    expect((await flotilla(['completion', 'fish'])).stdout).toContain(
      "complete -c flotilla -a '(__flotilla_complete)'",
    );
  });
});

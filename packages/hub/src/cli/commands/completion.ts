import { InvalidArgumentError, type Command } from 'commander';

// Each script asks `flotilla __complete WORD…` for the candidates, so completion always knows
// this version's commands and options and the saved context names.
const SCRIPTS = {
  bash: `# flotilla completion for bash. Load it in this shell with
#   source <(flotilla completion bash)
# or for every shell: flotilla completion bash > ~/.local/share/bash-completion/completions/flotilla
_flotilla() {
  local IFS=$'\\n'
  COMPREPLY=($(flotilla __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _flotilla flotilla
`,
  zsh: `#compdef flotilla
# flotilla completion for zsh. Load it in this shell with
#   source <(flotilla completion zsh)
# or for every shell: flotilla completion zsh > "\${fpath[1]}/_flotilla"
_flotilla() {
  local -a candidates
  candidates=("\${(@f)$(flotilla __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if (( \${#candidates[@]} )) && [[ -n "\${candidates[1]}" ]]; then
    compadd -- "\${candidates[@]}"
  else
    _files
  fi
}
if [[ "\${funcstack[1]}" == _flotilla ]]; then
  _flotilla "$@"
else
  compdef _flotilla flotilla
fi
`,
  fish: `# flotilla completion for fish. Load it in this shell with
#   flotilla completion fish | source
# or for every shell: flotilla completion fish > ~/.config/fish/completions/flotilla.fish
function __flotilla_complete
    set -l words (commandline -opc) (commandline -ct)
    flotilla __complete $words[2..-1] 2>/dev/null
end
complete -c flotilla -a '(__flotilla_complete)'
`,
} as const;

type Shell = keyof typeof SCRIPTS;

function shell(value: string): Shell {
  if (value in SCRIPTS) return value as Shell;
  throw new InvalidArgumentError(`the shell must be bash, zsh or fish; received '${value}'`);
}

/** `flotilla completion bash|zsh|fish`: the completion script for that shell. */
export function completionCommand(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: bash, zsh or fish')
    .argument('<shell>', 'bash, zsh or fish', shell)
    .action((name: Shell) => {
      process.stdout.write(SCRIPTS[name]);
    });
}

// `flotilla completion bash|zsh|fish`: print a completion script for the shell, built from the
// command table itself (every visible command, subcommand and long option), so it never drifts
// from the CLI. Install: `source <(flotilla completion bash)`, `flotilla completion zsh >
// "${fpath[1]}/_flotilla"`, `flotilla completion fish > ~/.config/fish/completions/flotilla.fish`.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

/** One command of the tree: its path ("" for the root, "runs list"), subcommands and options. */
export interface CompletionNode {
  path: string;
  commands: { name: string; summary: string }[];
  options: { flag: string; summary: string; takesValue: boolean; choices?: readonly string[] }[];
}

/** The visible command tree under `root`, depth first. Pure. */
export function completionTree(root: Command): CompletionNode[] {
  const out: CompletionNode[] = [];
  const visit = (cmd: Command, path: string, inherited: CompletionNode["options"]): void => {
    const help = cmd.createHelp();
    const visible = help.visibleCommands(cmd).filter((c) => c.name() !== "help");
    const options = [
      ...inherited,
      ...help.visibleOptions(cmd).flatMap((o) => {
        const flags = [o.long, o.short].filter((f): f is string => typeof f === "string");
        return flags.map((flag) => ({
          flag,
          summary: o.description,
          takesValue: o.required || o.optional,
          ...(o.argChoices ? { choices: o.argChoices } : {}),
        }));
      }),
    ];
    out.push({
      path,
      commands: visible.map((c) => ({ name: c.name(), summary: c.summary() || c.description() })),
      options,
    });
    // the root's own options (--debug) are accepted after any command; --help everywhere
    const pass = path === "" ? options.filter((o) => o.flag === "--debug") : inherited;
    for (const c of visible) visit(c, path ? `${path} ${c.name()}` : c.name(), pass);
  };
  visit(root, "", []);
  return out;
}

/** The completion script for `shell`. */
export function completionScript(shell: string, tree: CompletionNode[]): string {
  if (shell === "bash") return bash(tree);
  if (shell === "zsh") return zsh(tree);
  if (shell === "fish") return fish(tree);
  throw new FlotillaError(ErrorCode.Usage, `completion ${shell}: not a shell Flotilla completes`, {
    hint: `use one of ${SHELLS.join(", ")}`,
    usage: true,
  });
}

const words = (node: CompletionNode) => node.commands.map((c) => c.name).join(" ");
const flags = (node: CompletionNode) => node.options.map((o) => o.flag).join(" ");
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function bash(tree: CompletionNode[]): string {
  const cases = (f: (n: CompletionNode) => string) =>
    tree.map((n) => `    ${sq(n.path)}) echo ${sq(f(n))} ;;`).join("\n");
  const choiceCases = tree
    .flatMap((n) =>
      n.options
        .filter((o) => o.choices)
        .map((o) => `    ${sq(`${n.path}|${o.flag}`)}) echo ${sq(o.choices!.join(" "))} ;;`),
    )
    .join("\n");
  return `# flotilla completion for bash: source <(flotilla completion bash)
_flotilla_commands() {
  case "$1" in
${cases(words)}
  esac
}
_flotilla_options() {
  case "$1" in
${cases(flags)}
  esac
}
_flotilla_choices() {
  case "$1" in
${choiceCases}
  esac
}
_flotilla() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" path="" w i subs
  (( COMP_CWORD > 0 )) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for (( i = 1; i < COMP_CWORD; i++ )); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    subs=" $(_flotilla_commands "$path") "
    [[ "$subs" == *" $w "* ]] && path="\${path:+$path }$w"
  done
  local choices
  choices="$(_flotilla_choices "$path|$prev")"
  if [[ -n "$choices" ]]; then
    COMPREPLY=( $(compgen -W "$choices" -- "$cur") )
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$(_flotilla_options "$path")" -- "$cur") )
  else
    COMPREPLY=( $(compgen -W "$(_flotilla_commands "$path")" -- "$cur") )
    (( \${#COMPREPLY[@]} == 0 )) && COMPREPLY=( $(compgen -f -- "$cur") )
  fi
  return 0
}
complete -o default -F _flotilla flotilla
`;
}

function zsh(tree: CompletionNode[]): string {
  const describe = (n: CompletionNode) =>
    n.commands.map((c) => sq(`${c.name}:${c.summary.replace(/:/g, "\\:")}`)).join(" ");
  const cases = tree
    .map(
      (n) =>
        `    ${sq(n.path)}) cmds=(${describe(n)}); opts=(${n.options.map((o) => sq(o.flag)).join(" ")}) ;;`,
    )
    .join("\n");
  return `#compdef flotilla
# flotilla completion for zsh: flotilla completion zsh > "\${fpath[1]}/_flotilla"
_flotilla() {
  local path_="" w i
  local -a cmds opts subs
  for (( i = 2; i < CURRENT; i++ )); do
    w="\${words[i]}"
    [[ "$w" == -* ]] && continue
    _flotilla_node "$path_"
    subs=(\${cmds%%:*})
    (( \${subs[(Ie)$w]} )) && path_="\${path_:+$path_ }$w"
  done
  _flotilla_node "$path_"
  if [[ "$PREFIX" == -* ]]; then
    compadd -- $opts
  elif (( \${#cmds} )); then
    _describe -t commands 'flotilla command' cmds
  else
    _files
  fi
}
_flotilla_node() {
  cmds=(); opts=()
  case "$1" in
${cases}
  esac
}
if [[ "$funcstack[1]" == "_flotilla" ]]; then _flotilla "$@"; else compdef _flotilla flotilla; fi
`;
}

function fish(tree: CompletionNode[]): string {
  const lines = [
    "# flotilla completion for fish: flotilla completion fish > ~/.config/fish/completions/flotilla.fish",
  ];
  lines.push("complete -c flotilla -f");
  // fish's own test of where we are: the subcommand path seen so far
  lines.push(`function __flotilla_path
    set -l path
    for w in (commandline -opc)[2..-1]
        switch $w
            case '-*'
            case '*'
                set -l next (string join ' ' $path $w)
                if contains -- $next ${tree
                  .filter((n) => n.path)
                  .map((n) => sq(n.path))
                  .join(" ")}
                    set path $path $w
                end
        end
    end
    string join ' ' $path
end`);
  for (const n of tree) {
    const cond = `-n ${sq(`test "(__flotilla_path)" = ${sq(n.path)}`)}`;
    for (const c of n.commands)
      lines.push(`complete -c flotilla ${cond} -a ${sq(c.name)} -d ${sq(c.summary)}`);
    for (const o of n.options) {
      const name = o.flag.startsWith("--") ? `-l ${o.flag.slice(2)}` : `-s ${o.flag.slice(1)}`;
      const value = o.takesValue ? (o.choices ? ` -x -a ${sq(o.choices.join(" "))}` : " -r") : "";
      lines.push(`complete -c flotilla ${cond} ${name}${value} -d ${sq(o.summary)}`);
    }
    if (n.commands.length === 0 && n.path) lines.push(`complete -c flotilla ${cond} -F`);
  }
  return `${lines.join("\n")}\n`;
}

export const completionCommand = (program: Command): void => {
  program
    .command("completion")
    .description(
      "print a shell completion script: `source <(flotilla completion bash)`; zsh and fish: see README",
    )
    .argument("<shell>", SHELLS.join(", "))
    .action((shell: string, _opts: unknown, cmd: Command) => {
      let root = cmd;
      while (root.parent) root = root.parent;
      process.stdout.write(completionScript(shell, completionTree(root)));
    });
};

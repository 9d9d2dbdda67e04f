// completions bash|zsh|fish: a completion script generated from the command table that both
// parsers read (command-table.ts), so commands and options never drift from the parser.
// Registered VM uuids (with their names) are read at completion time from `vgpu-admin list-vms
// --format=json` through a portable awk filter: the list is never stale, and an unreadable
// database just completes nothing.
import { UsageError } from "../../domain/errors.ts";
import { SETTING_DEFS } from "../../domain/settings.ts";
import { POOL_IDS, PRIORITY_NAMES } from "../../domain/types.ts";
import { quote } from "../../domain/validate.ts";
import {
  COMMANDS,
  DB_OPTION,
  type OptionSpec,
  PROGRAM_NAME,
  VERSION,
  VERSION_OPTION,
} from "../command-table.ts";
import type { Deps } from "../deps.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = typeof SHELLS[number];

export interface CompletionsOptions {
  shell: Shell;
}

export function parseOptions(input: RawOptions): CompletionsOptions {
  const raw = input.pick({ args: "args" });
  const [shell, ...rest] = raw.args;
  if (rest.length > 0) throw new UsageError("too many arguments: completions bash|zsh|fish");
  const v = (shell ?? "").trim().toLowerCase();
  if (!(SHELLS as readonly string[]).includes(v)) {
    throw new UsageError(`invalid shell ${quote(shell ?? "")}: use bash, zsh or fish`);
  }
  return { shell: v as Shell };
}

/** What a value of an option or argument is completed with. */
export type ValueKind =
  | "pool"
  | "priority"
  | "uuid"
  | "format"
  | "file"
  | "dir"
  | "shell"
  | "setting"
  | "free";

export interface OptSpec {
  /** `--name` */
  long: string;
  /** `-x`, when there is one. */
  short: string | null;
  /** null: a switch. */
  value: ValueKind | null;
  description: string;
}

export interface CmdSpec {
  name: string;
  description: string;
  options: OptSpec[];
  args: { name: string; value: ValueKind }[];
}

export interface CompletionSpec {
  program: string;
  version: string;
  /** Options of the program itself (--db, --version, --help). */
  global: OptSpec[];
  commands: CmdSpec[];
}

const VALUE_BY_OPTION: Record<string, ValueKind> = {
  "--pool": "pool",
  "--pool-id": "pool",
  "--priority": "priority",
  "--vm-uuid": "uuid",
  "--format": "format",
  "--db": "file",
  "--binary": "file",
  "--output": "file",
  "--root": "dir",
};

const VALUE_BY_ARG: Record<string, ValueKind> = {
  shell: "shell",
  file: "file",
  key: "setting",
};

const HELP: OptSpec = { long: "--help", short: "-h", value: null, description: "show help" };

/** An option of the table as the completions see it: `-V, --version` or `--pool <id>`. */
function optSpec(o: OptionSpec): OptSpec {
  const names = o.flags.split(/[ ,]+/);
  const long = names.find((n) => n.startsWith("--"))!;
  const short = names.find((n) => /^-[^-]/.test(n)) ?? null;
  return {
    long,
    short,
    value: /[<[]/.test(o.flags) ? VALUE_BY_OPTION[long] ?? "free" : null,
    description: o.help,
  };
}

/** Commands, options and arguments, read from the command table (command-table.ts). */
export function completionSpec(): CompletionSpec {
  return {
    program: PROGRAM_NAME,
    version: VERSION,
    global: [VERSION_OPTION, DB_OPTION].map(optSpec).concat(HELP),
    commands: COMMANDS.map((c) => ({
      name: c.name,
      description: c.description,
      options: [...c.options.map(optSpec), HELP],
      args: (c.args ?? []).map((a) => {
        const name = a.name.replace(/^[<[]|[>\]]$/g, "");
        return { name, value: VALUE_BY_ARG[name] ?? "free" };
      }),
    })),
  };
}

// Reads `vgpu-admin list-vms --format=json` (two-space indented, keys in a fixed order) and
// prints "uuid<TAB>name" per VM. Plain POSIX awk, no single quotes (it is embedded in '…').
const AWK_VMS = [
  '/^ *"vm_uuid": "/ { u = $0; sub(/^ *"vm_uuid": "/, "", u); sub(/".*$/, "", u); next }',
  '/^ *"vm_name": / { n = $0; sub(/^ *"vm_name": /, "", n); sub(/,$/, "", n);',
  '  if (n == "null") n = ""; else { sub(/^"/, "", n); sub(/"$/, "", n) }',
  '  if (u != "") print u "\\t" n; u = "" }',
].join("\n");

const SETTING_KEYS = SETTING_DEFS.map((d) => d.key);

function staticValues(kind: ValueKind): readonly string[] | null {
  switch (kind) {
    case "pool":
      return POOL_IDS;
    case "priority":
      return PRIORITY_NAMES;
    case "format":
      return ["table", "json"];
    case "shell":
      return SHELLS;
    case "setting":
      return SETTING_KEYS;
    default:
      return null;
  }
}

// ---- bash ------------------------------------------------------------------------------------

function bashScript(s: CompletionSpec): string {
  const fn = `_${s.program.replace(/[^A-Za-z0-9]/g, "_")}`;
  const word = (o: OptSpec) => (o.value === null ? o.long : `${o.long}=`);
  const optWords = (opts: OptSpec[]) =>
    [...opts.map(word), ...opts.flatMap((o) => (o.short ? [o.short] : []))].join(" ");
  const valued = [...s.global, ...s.commands.flatMap((c) => c.options)]
    .filter((o) => o.value !== null);
  const kindOf = new Map<string, ValueKind>();
  for (const o of valued) kindOf.set(o.long, o.value!);
  const kindCases = [...kindOf].map(([long, kind]) => `    ${long}) echo ${kind} ;;`).join("\n");
  const cmdOpts = s.commands.map((c) => `    ${c.name}) opts="${optWords(c.options)}" ;;`).join(
    "\n",
  );
  const argCases = s.commands.flatMap((c) =>
    c.args.map((a, i) => `    ${c.name}:${i}) echo ${a.value} ;;`)
  ).join("\n");
  const valueCases = (["pool", "priority", "format", "shell", "setting"] as const).map((k) =>
    `    ${k}) words="${staticValues(k)!.join(" ")}" ;;`
  ).join("\n");
  return `# bash completion for ${s.program} ${s.version} (generated by '${s.program} completions bash')
# Install: ${s.program} completions bash > /etc/bash_completion.d/${s.program}
# Registered VM uuids come from '${s.program} list-vms --format=json' at each completion; a
# name typed after --vm-uuid= completes to that VM's uuid.

${fn}_vms() {
  # $1: the program, $2: --db value or empty. Prints "uuid<TAB>name" per registered VM.
  # A --db that does not exist is not read (the program would create it).
  [[ -z $2 || -e $2 ]] || return 0
  command "$1" \${2:+"--db=$2"} list-vms --format=json 2>/dev/null | awk '
${AWK_VMS}'
}

${fn}_kind() {
  case "$1" in
${kindCases}
    *) echo none ;;
  esac
}

${fn}_argkind() {
  # $1: command, $2: index of the positional argument.
  case "$1:$2" in
${argCases}
    *) echo none ;;
  esac
}

${fn}_values() {
  # $1: value kind, $2: prefix, $3: program, $4: --db value. Fills COMPREPLY.
  local words line uuid name
  case "$1" in
${valueCases}
    uuid)
      COMPREPLY=()
      while IFS= read -r line; do
        uuid=\${line%%$'\\t'*}
        [[ $uuid == "$2"* ]] && COMPREPLY+=("$uuid")
      done < <(${fn}_vms "$3" "$4")
      if [[ \${#COMPREPLY[@]} -eq 0 && -n $2 ]]; then
        while IFS= read -r line; do
          uuid=\${line%%$'\\t'*}
          name=\${line#*$'\\t'}
          [[ $name == "$2"* ]] && COMPREPLY+=("$uuid")
        done < <(${fn}_vms "$3" "$4")
      fi
      return ;;
    file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$2")); return ;;
    dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$2")); return ;;
    *) COMPREPLY=(); return ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$2"))
}

${fn}() {
  local cur prev prog cmd db i w opts kind prefix="" opt="" joined=""
  cur=\${COMP_WORDS[COMP_CWORD]}
  prev=""
  (( COMP_CWORD > 0 )) && prev=\${COMP_WORDS[COMP_CWORD-1]}
  prog=\${COMP_WORDS[0]}
  cmd=""
  db=""
  for (( i = 1; i < COMP_CWORD; i++ )); do
    w=\${COMP_WORDS[i]}
    case "$w" in
      --db=*) db=\${w#--db=} ;;
      --db)
        if [[ \${COMP_WORDS[i+1]} == "=" ]]; then db=\${COMP_WORDS[i+2]}; else db=\${COMP_WORDS[i+1]}; fi ;;
      ${s.commands.map((c) => c.name).join("|")})
        [[ -z $cmd ]] && cmd=$w ;;
    esac
  done
  # The option whose value is being completed: "--opt=v" as one word, or split at "=" by
  # COMP_WORDBREAKS ("--opt" "=" "v"), or "--opt v".
  if [[ $cur == --*=* ]]; then
    opt=\${cur%%=*}
    prefix=\${cur#*=}
    [[ $COMP_WORDBREAKS == *=* ]] || joined=1
  elif [[ $cur == "=" && $prev == --* ]]; then
    opt=$prev
  elif [[ $prev == "=" && COMP_CWORD -ge 2 && \${COMP_WORDS[COMP_CWORD-2]} == --* ]]; then
    opt=\${COMP_WORDS[COMP_CWORD-2]}
    prefix=$cur
  elif [[ $prev == -* && $prev != *=* && $(${fn}_kind "$prev") != none ]]; then
    opt=$prev
    prefix=$cur
  fi
  if [[ -n $opt ]]; then
    kind=$(${fn}_kind "$opt")
    ${fn}_values "$kind" "$prefix" "$prog" "$db"
    if [[ -n $joined ]]; then
      for i in "\${!COMPREPLY[@]}"; do COMPREPLY[i]="$opt=\${COMPREPLY[i]}"; done
    fi
    return 0
  fi
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "${optWords(s.global)}" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "${s.commands.map((c) => c.name).join(" ")}" -- "$cur"))
    fi
  elif [[ $cur == -* ]]; then
    opts=""
    case "$cmd" in
${cmdOpts}
    esac
    COMPREPLY=($(compgen -W "$opts ${
    optWords(s.global.filter((o) => o.long === "--db"))
  }" -- "$cur"))
  else
    # Which positional argument this is: words after the command that are neither options
    # nor option values.
    local npos=0 seen=""
    for (( i = 1; i < COMP_CWORD; i++ )); do
      w=\${COMP_WORDS[i]}
      if [[ -z $seen ]]; then [[ $w == "$cmd" ]] && seen=1; continue; fi
      [[ $w == -* || $w == "=" || \${COMP_WORDS[i-1]} == "=" ]] && continue
      [[ \${COMP_WORDS[i-1]} == --* && \${COMP_WORDS[i-1]} != *=* &&
        $(${fn}_kind "\${COMP_WORDS[i-1]}") != none ]] && continue
      (( npos++ ))
    done
    ${fn}_values "$(${fn}_argkind "$cmd" "$npos")" "$cur" "$prog" "$db"
  fi
  # "--opt=" waits for its value: no space after it.
  [[ \${#COMPREPLY[@]} -eq 1 && \${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
  return 0
}

complete -F ${fn} ${s.program}
`;
}

// ---- zsh -------------------------------------------------------------------------------------

/** A single-quoted zsh word. */
function zq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Text inside an _arguments `[...]` description or a `name:description` pair. */
function zdesc(s: string): string {
  return s.replace(/[\\[\]:]/g, (c) => `\\${c}`);
}

function zshAction(kind: ValueKind, fn: string): string {
  const values = staticValues(kind);
  if (values !== null) return `(${values.join(" ")})`;
  if (kind === "uuid") return `${fn}_vms`;
  if (kind === "file") return "_files";
  if (kind === "dir") return "_files -/";
  return " ";
}

function zshOption(o: OptSpec, fn: string): string[] {
  const desc = `[${zdesc(o.description)}]`;
  const names = o.short ? [o.short, o.long] : [o.long];
  const excl = o.long === "--help" || o.long === "--version" ? "(- *)" : "";
  return names.map((n) => {
    if (o.value === null) return zq(`${excl}${n}${desc}`);
    // `--opt=` accepts both --opt=VALUE and --opt VALUE.
    const eq = n.startsWith("--") ? "=" : "";
    return zq(`${excl}${n}${eq}${desc}:${o.value}:${zshAction(o.value, fn)}`);
  });
}

function zshScript(s: CompletionSpec): string {
  const fn = `_${s.program.replace(/[^A-Za-z0-9]/g, "_")}`;
  const db = s.global.filter((o) => o.long === "--db");
  const commands = s.commands.map((c) => `    ${zq(`${zdesc(c.name)}:${c.description}`)}`)
    .join("\n");
  const cases = s.commands.map((c) => {
    const specs = [...c.options, ...db].flatMap((o) => zshOption(o, fn));
    c.args.forEach((a, i) => {
      specs.push(zq(`${i + 1}:${a.name}:${zshAction(a.value, fn)}`));
    });
    return `    (${c.name})\n      _arguments -s \\\n        ${
      specs.join(" \\\n        ")
    }\n      ;;`;
  }).join("\n");
  return `#compdef ${s.program}
# zsh completion for ${s.program} ${s.version} (generated by '${s.program} completions zsh')
# Install: ${s.program} completions zsh > "\${fpath[1]}/_${s.program}"; then restart zsh
# (or: source <(${s.program} completions zsh) after compinit). Registered VM uuids come from
# '${s.program} list-vms --format=json' at each completion, shown with their names.

${fn}_vms() {
  local -a vms
  local line
  # A --db that does not exist is not read (the program would create it).
  [[ -z $${fn}_db || -e $${fn}_db ]] || return 1
  for line in \${(f)"$(command \${${fn}_prog:-${s.program}} \${${fn}_db:+--db=\$${fn}_db} list-vms --format=json 2>/dev/null | awk '
${AWK_VMS}')"}; do
    vms+=("\${\${line%%$'\\t'*}//:/\\\\:}:\${line#*$'\\t'}")
  done
  _describe -t vms 'registered VM' vms
}

${fn}() {
  local curcontext="$curcontext" state line i
  local ${fn}_prog=\${words[1]} ${fn}_db=""
  typeset -A opt_args
  for (( i = 2; i < CURRENT; i++ )); do
    case \${words[i]} in
      --db=*) ${fn}_db=\${words[i]#--db=} ;;
      --db) ${fn}_db=\${words[i+1]} ;;
    esac
  done
  _arguments -C \\
    ${s.global.flatMap((o) => zshOption(o, fn)).join(" \\\n    ")} \\
    '1: :->command' \\
    '*:: :->args' && return 0
  case $state in
    (command)
      local -a commands
      commands=(
${commands}
      )
      _describe -t commands '${s.program} command' commands
      ;;
    (args)
      case \${words[1]} in
${cases}
      esac
      ;;
  esac
}

if [[ $zsh_eval_context[-1] == loadautoload ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${s.program}
fi
`;
}

// ---- fish ------------------------------------------------------------------------------------

/** A single-quoted fish word. */
function fq(s: string): string {
  return `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

function fishScript(s: CompletionSpec): string {
  const fn = `__${s.program.replace(/[^A-Za-z0-9]/g, "_")}`;
  const names = s.commands.map((c) => c.name).join(" ");
  const p = s.program;
  const lines: string[] = [];
  const value = (kind: ValueKind): string => {
    const values = staticValues(kind);
    if (values !== null) return ` -x -a ${fq(values.join(" "))}`;
    if (kind === "uuid") return ` -x -a '(${fn}_vms)'`;
    if (kind === "file" || kind === "dir") return " -r -F";
    return " -x";
  };
  const option = (o: OptSpec, cond: string) => {
    const short = o.short ? ` -s ${o.short.slice(1)}` : "";
    const v = o.value === null ? "" : value(o.value);
    lines.push(
      `complete -c ${p}${cond} -l ${o.long.slice(2)}${short}${v} -d ${fq(o.description)}`,
    );
  };
  for (const o of s.global) option(o, "");
  for (const c of s.commands) {
    lines.push(
      `complete -c ${p} -n ${fq(`not __fish_seen_subcommand_from ${names}`)} -a ${c.name} -d ${
        fq(c.description)
      }`,
    );
  }
  for (const c of s.commands) {
    const cond = ` -n ${fq(`__fish_seen_subcommand_from ${c.name}`)}`;
    for (const o of c.options) if (o.long !== "--help") option(o, cond);
    const arg = c.args[0];
    if (arg !== undefined && arg.value !== "free") {
      lines.push(`complete -c ${p}${cond}${value(arg.value).replace(" -r -F", " -F")}`);
    }
  }
  return `# fish completion for ${p} ${s.version} (generated by '${p} completions fish')
# Install: ${p} completions fish > ~/.config/fish/completions/${p}.fish
# Registered VM uuids come from '${p} list-vms --format=json' at each completion, shown with
# their names.

function ${fn}_vms
    set -l words (commandline -opc)
    set -l db
    for i in (seq (count $words))
        switch $words[$i]
            case '--db=*'
                set db (string sub -s 6 -- $words[$i])
            case --db
                set -l j (math $i + 1)
                if test $j -le (count $words)
                    set db $words[$j]
                end
        end
    end
    set -l args list-vms --format=json
    if test -n "$db"
        # A --db that does not exist is not read (the program would create it).
        test -e "$db"; or return 0
        set args --db=$db $args
    end
    command $words[1] $args 2>/dev/null | awk '
${AWK_VMS}'
end

complete -c ${p} -f
${lines.join("\n")}
`;
}

export function run(opts: CompletionsOptions, deps: Deps): Promise<void> {
  const spec = completionSpec();
  const script = opts.shell === "bash"
    ? bashScript(spec)
    : opts.shell === "zsh"
    ? zshScript(spec)
    : fishScript(spec);
  deps.io.out.write(script);
  return Promise.resolve();
}

export const command = defineCommand({ parseOptions, run });

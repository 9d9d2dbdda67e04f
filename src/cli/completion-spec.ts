// What the completion scripts complete, read from the command table (command-table.ts): each
// command's options and arguments with the kind of value they take, and the awk filters that
// read VM uuids from the program's own JSON at completion time. The scripts are in
// commands/completions.ts.
import { SETTING_DEFS } from "../domain/settings.ts";
import { POOL_IDS, PRIORITY_NAMES } from "../domain/types.ts";
import {
  COMMANDS,
  DB_OPTION,
  type OptionSpec,
  PROGRAM_NAME,
  VERSION,
  VERSION_OPTION,
} from "./command-table.ts";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = typeof SHELLS[number];

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
  "--vm": "uuid",
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
export const AWK_VMS = [
  '/^ *"vm_uuid": "/ { u = $0; sub(/^ *"vm_uuid": "/, "", u); sub(/".*$/, "", u); next }',
  '/^ *"vm_name": / { n = $0; sub(/^ *"vm_name": /, "", n); sub(/,$/, "", n);',
  '  if (n == "null") n = ""; else { sub(/^"/, "", n); sub(/"$/, "", n) }',
  '  if (u != "") print u "\\t" n; u = "" }',
].join("\n");

// Reads `vgpu-admin scan-vms --format=json` and prints "uuid<TAB>name-label" per VM of its
// "unregistered" list (the VMs register-vm and adopt take; issue 18 C14).
export const AWK_HOST_VMS = [
  '/^  "unregistered": \\[/ { inside = 1; next }',
  "/^  \\]/ { inside = 0 }",
  'inside && /^ *"vm_uuid": "/ { u = $0; sub(/^ *"vm_uuid": "/, "", u); sub(/".*$/, "", u); next }',
  'inside && /^ *"name_label": "/ { n = $0; sub(/^ *"name_label": "/, "", n); sub(/",?$/, "", n);',
  '  if (u != "") print u "\\t" n; u = "" }',
].join("\n");

/** The commands whose VM is an unregistered one: their uuids come from the host (xe). */
export const HOST_VM_COMMANDS = ["register-vm", "adopt"];

const SETTING_KEYS = SETTING_DEFS.map((d) => d.key);

export function staticValues(kind: ValueKind): readonly string[] | null {
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

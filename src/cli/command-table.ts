// The command tree as data: the single source for the parser (argv.ts), --help (help.ts) and the
// shell completions. Which file runs each command is in command-loaders.ts (design.md §6).
import denoJson from "../../deno.json" with { type: "json" };

export const VERSION: string = denoJson.version;
export const PROGRAM_NAME = "vgpu-admin";
export const PROGRAM_DESCRIPTION =
  "Configure which vGPU pool (A or B), priority and vm_id each XCP-ng VM's vgpu-stub device gets.";

/** A parsed command line: the command, its raw option values, and the global --db. */
export interface Selected {
  name: string;
  raw: Record<string, unknown>;
  db: string | undefined;
}

const FORMAT_HELP = "output format: table or json";
const UUID_HELP = "the VM's xapi uuid (see xe vm-list)";

/** One option: commander flags syntax (`--name <value>` takes a value, `--name` is a switch). */
export interface OptionSpec {
  flags: string;
  help: string;
  required?: boolean;
  /** Another option that may be given instead (never both): `--vm` for `--vm-uuid`. */
  or?: string;
}

/** One command of the tree: the single source for both parsers and for --help. */
export interface CommandSpec {
  name: string;
  description: string;
  example: string;
  options: OptionSpec[];
  /** Positional arguments, commander syntax: `<file>` required, `[key]` optional. */
  args?: { name: string; help: string }[];
}

const opt = (flags: string, help: string): OptionSpec => ({ flags, help });
const req = (flags: string, help: string): OptionSpec => ({ flags, help, required: true });
const VM_HELP = "the VM by name, uuid or unique uuid prefix (instead of --vm-uuid)";
/** `--vm-uuid` (required unless `--vm` is given) and `--vm`: issue 18 C14. */
const VM_UUID_OR_VM: OptionSpec[] = [
  { flags: "--vm-uuid <uuid>", help: UUID_HELP, required: true, or: "--vm" },
  opt("--vm <name|uuid>", VM_HELP),
];
const FORMAT = opt("--format <table|json>", FORMAT_HELP);
const YES = opt("--yes", "answer yes to the confirmation in advance");
const RECONFIGURE = [
  YES,
  opt("--shutdown-timeout <seconds>", "wait this long for a clean shutdown (default 120)"),
  opt("--force-shutdown", "after a clean shutdown times out, shut the VM down hard"),
];

/** The command tree. Each command's code is imported only when that command runs. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "list-pools",
    description: "list vGPU pools A and B with their VM counts per priority",
    example: "vgpu-admin list-pools",
    options: [FORMAT],
  },
  {
    name: "show-pool",
    description: "show one vGPU pool and its VMs",
    example: "vgpu-admin show-pool --pool-id=A",
    options: [req("--pool-id <A|B>", "vGPU pool: A or B"), FORMAT],
  },
  {
    name: "set-pool-name",
    description: "rename a vGPU pool (metadata only; no VM is touched)",
    example:
      'vgpu-admin set-pool-name --pool-id=A --name="Production" --description="latency-sensitive"',
    options: [
      req("--pool-id <A|B>", "vGPU pool: A or B"),
      req("--name <name>", "new name (1-64 characters)"),
      opt("--description <text>", "description (empty clears it)"),
    ],
  },
  {
    name: "enable-pool",
    description: "let a vGPU pool take new VMs again",
    example: "vgpu-admin enable-pool --pool-id=B",
    options: [req("--pool-id <id>", "vGPU pool: A or B")],
  },
  {
    name: "disable-pool",
    description: "refuse new VMs in a vGPU pool (its VMs keep their args)",
    example: "vgpu-admin disable-pool --pool-id=B",
    options: [req("--pool-id <id>", "vGPU pool: A or B")],
  },
  {
    name: "register-vm",
    description: "register a VM and write its vgpu-stub device args to xapi",
    example:
      "vgpu-admin register-vm --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --pool=B --priority=high --vm-id=8",
    options: [
      ...VM_UUID_OR_VM,
      opt("--vm-name <name>", "name to record (default: the VM's name-label)"),
      opt("--pool <A|B>", "vGPU pool: A or B (default A)"),
      opt("--priority <low|medium|high>", "low, medium or high (or 0, 1, 2; default medium)"),
      opt("--vm-id <n>", "vm_id 1-2147483647 (default: the lowest unused)"),
      opt("--offline", "database only: do not check or write the VM ('sync' applies it later)"),
    ],
  },
  {
    name: "show-vm",
    description: "show one registered VM: database configuration and, from xe, what the VM carries",
    example: "vgpu-admin show-vm --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff",
    options: [
      ...VM_UUID_OR_VM,
      opt("--offline", "database only: do not ask xe"),
      FORMAT,
    ],
  },
  {
    name: "list-vms",
    description: "list registered VMs, optionally by vGPU pool and priority",
    example: "vgpu-admin list-vms --pool=A --priority=high",
    options: [
      opt("--pool <A|B>", "only this vGPU pool: A or B"),
      opt("--priority <low|medium|high>", "only this priority: low, medium, high"),
      FORMAT,
    ],
  },
  {
    name: "remove-vm",
    description: "unregister a VM and remove its vgpu-stub device from its args",
    example: "vgpu-admin remove-vm --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --yes",
    options: [
      ...VM_UUID_OR_VM,
      YES,
      opt("--offline", "database only: leave the VM's args as they are"),
    ],
  },
  {
    name: "recover",
    description:
      "finish or undo reconfigurations interrupted by kill -9, a crash or a power loss, and restart their VMs",
    example: "vgpu-admin recover --yes",
    options: [
      opt("--vm-uuid <uuid>", "only this VM's interrupted operation"),
      { ...opt("--vm <name|uuid>", VM_HELP), or: "--vm-uuid" },
      YES,
      opt(
        "--take-over",
        "pool mode: end the operations of dead hosts (host-metrics-live false) from this host",
      ),
    ],
  },
  {
    name: "status",
    description: "control panel: vGPU pools, their VMs, unregistered VMs, drift and stale starts",
    example: "vgpu-admin status",
    options: [opt("--offline", "database only: do not ask xe"), FORMAT],
  },
  {
    name: "scan-vms",
    description: "scan the host: VMs by vGPU pool, then unregistered; args and drift",
    example: "vgpu-admin scan-vms --format=json",
    options: [
      opt("--deep", "also compare the args each running VM's QEMU was started with"),
      FORMAT,
    ],
  },
  {
    name: "set-pool",
    description: "move a VM to another vGPU pool (stops and restarts a running VM)",
    example: "vgpu-admin set-pool --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --pool=B",
    options: [
      ...VM_UUID_OR_VM,
      req("--pool <A|B>", "vGPU pool: A or B"),
      ...RECONFIGURE,
    ],
  },
  {
    name: "set-priority",
    description: "change a VM's priority (stops and restarts a running VM)",
    example:
      "vgpu-admin set-priority --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --priority=high",
    options: [
      ...VM_UUID_OR_VM,
      req("--priority <low|medium|high>", "low, medium or high"),
      ...RECONFIGURE,
    ],
  },
  {
    name: "set-vm-id",
    description: "change a VM's vm_id (stops and restarts a running VM)",
    example: "vgpu-admin set-vm-id --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --vm-id=20",
    options: [
      ...VM_UUID_OR_VM,
      req("--vm-id <n>", "new vm_id 1-2147483647"),
      ...RECONFIGURE,
    ],
  },
  {
    name: "update-vm",
    description:
      "change several of pool, priority, vm_id at once (stops and restarts a running VM)",
    example:
      "vgpu-admin update-vm --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --pool=B --priority=low",
    options: [
      ...VM_UUID_OR_VM,
      opt("--pool <A|B>", "vGPU pool: A or B"),
      opt("--priority <low|medium|high>", "low, medium or high"),
      opt("--vm-id <n>", "vm_id 1-2147483647"),
      ...RECONFIGURE,
    ],
  },
  {
    name: "sync",
    description: "write every registered VM's vgpu-stub args from the database to xapi",
    example: "vgpu-admin sync --check",
    options: [
      opt("--check", "change nothing; exit 3 when anything differs"),
      opt("--dry-run", "change nothing; print the xe commands sync would run"),
    ],
  },
  {
    name: "adopt",
    description: "register hand-configured VMs from the vgpu-stub args they already carry",
    example: "vgpu-admin adopt --yes",
    options: [
      opt("--vm-uuid <uuid>", "adopt only this VM"),
      { ...opt("--vm <name|uuid>", VM_HELP), or: "--vm-uuid" },
      YES,
    ],
  },
  {
    name: "startup-hook",
    description:
      "check and repair a VM's args as it starts, resumes or migrates (run by the hooks in /etc/xapi.d/)",
    example: "vgpu-admin startup-hook --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --reason=none",
    options: [
      req("--vm-uuid <uuid>", UUID_HELP),
      opt("--reason <reason>", "xapi's reason"),
      opt(
        "--hook <event>",
        "vm-pre-start (default), vm-pre-resume, vm-pre-migrate or vm-post-migrate",
      ),
    ],
  },
  {
    name: "history",
    description: "show the change log, newest first",
    example: "vgpu-admin history --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --limit=20",
    options: [
      opt("--vm-uuid <uuid>", "only this VM"),
      { ...opt("--vm <name|uuid>", VM_HELP), or: "--vm-uuid" },
      opt("--limit <n>", "at most this many entries"),
      FORMAT,
    ],
  },
  {
    name: "export",
    description: "print the whole configuration (pools, VMs, settings) as JSON",
    example: "vgpu-admin export --output=/root/vgpu-config.json",
    options: [opt("--output <file>", "write to FILE (created 0600) instead of stdout")],
  },
  {
    name: "import",
    description: "load a configuration exported by 'export', all or nothing",
    example: "vgpu-admin import /root/vgpu-config.json --dry-run",
    args: [{ name: "<file>", help: "the JSON file ('-' for stdin)" }],
    options: [
      opt("--dry-run", "validate and show what would change; change nothing"),
      opt("--replace", "replace the whole configuration (a backup is taken first)"),
      YES,
      opt("--offline", "database only: do not write the imported VMs' args to the host"),
    ],
  },
  {
    name: "install-hook",
    description: "install the vm-pre-start hook script, its log rotation, and the database",
    example: "vgpu-admin install-hook",
    options: [
      opt("--binary <path>", "absolute path the hook runs (default /usr/local/bin/vgpu-admin)"),
      opt("--root <dir>", "install under DIR instead of / (for tests and image builds)"),
    ],
  },
  {
    name: "uninstall-hook",
    description: "remove what install-hook installed (the database is kept)",
    example: "vgpu-admin uninstall-hook",
    options: [opt("--root <dir>", "work under DIR instead of /")],
  },
  {
    name: "doctor",
    description:
      "check the installation, database, hook, xe, drift and running VMs; one line per check",
    example: "vgpu-admin doctor",
    options: [opt("--root <dir>", "look under DIR instead of /"), FORMAT],
  },
  {
    name: "completions",
    description: "print a shell completion script: completions bash|zsh|fish",
    example: "vgpu-admin completions bash > /etc/bash_completion.d/vgpu-admin",
    args: [{ name: "<shell>", help: "bash, zsh or fish" }],
    options: [],
  },
  {
    name: "settings",
    description: "show settings, or set one: settings [KEY [VALUE]]",
    example: "vgpu-admin settings hook-strict on",
    args: [{ name: "[key]", help: "setting name" }, { name: "[value]", help: "new value" }],
    options: [opt("--unset", "reset KEY to its default"), FORMAT],
  },
  {
    name: "schema",
    description: "print the SQL that creates the database",
    example: "vgpu-admin schema",
    options: [],
  },
  {
    name: "pool-enable",
    description:
      "turn pool mode on for the XCP-ng pool, or join it (also spelled 'pool enable'); merges this host's registrations",
    example: "vgpu-admin pool enable --dry-run",
    options: [
      opt("--dry-run", "list every host's registrations and vm_id collisions; change nothing"),
      YES,
    ],
  },
  {
    name: "pool-status",
    description:
      "pool mode, the master, every host, the pool-wide registry and its inconsistencies (also 'pool status')",
    example: "vgpu-admin pool status --format=json",
    options: [FORMAT],
  },
  {
    name: "pool-reconcile",
    description:
      "rebuild the pool's vm_id claims from the VMs' args and this host's database (also 'pool reconcile')",
    example: "vgpu-admin pool reconcile --dry-run",
    options: [
      opt("--dry-run", "say what would be rebuilt and what cannot be settled; change nothing"),
      YES,
    ],
  },
  {
    name: "pool-disable",
    description:
      "turn pool mode off for the whole XCP-ng pool; every host keeps its database (also 'pool disable')",
    example: "vgpu-admin pool disable --yes",
    options: [YES],
  },
];

/** The program's own options, before any command. */
export const VERSION_OPTION = opt("-V, --version", "print the version");
export const DB_OPTION = opt(
  "--db <path>",
  "database file (default: $VGPU_DB or /etc/vgpu/vgpu_config.db)",
);

/** `--pool=<A|B>` for a value option, `--offline` for a switch: the form help and errors use. */
export function optionForm(o: { flags: string }): string {
  const long = o.flags.split(/[ ,]+/).find((f) => f.startsWith("--")) ?? o.flags;
  const value = /<[^>]+>/.exec(o.flags);
  return value === null ? long : `${long}=${value[0]}`;
}

/**
 * The seeds' synopsis of a command, e.g. `vgpu-admin register-vm --vm-uuid=<uuid>
 * [--vm-name=<name>] …`: arguments, then options in table order, optional ones in brackets.
 */
export function synopsis(spec: CommandSpec): string {
  const parts = [
    ...(spec.args ?? []).map((a) => a.name),
    ...spec.options.map((o) => (o.required ? optionForm(o) : `[${optionForm(o)}]`)),
  ];
  return ["vgpu-admin", spec.name, ...parts].join(" ");
}

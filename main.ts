// vgpu-admin entry point: declares the command tree, runs one command, decides the exit code.
// A command's code is imported only when it runs: the start hook runs at every VM start, so
// start-up time is part of the product (design.md §6).
import type { Command } from "@commander-js/extra-typings";
import denoJson from "./deno.json" with { type: "json" };
import type { Prompt } from "./src/cli/confirm.ts";
import { createDeps, type Deps, type Env } from "./src/cli/deps.ts";
import type { IO } from "./src/cli/io.ts";
import type { Outcome } from "./src/cli/outcome.ts";
import { UsageError, VgpuError } from "./src/domain/errors.ts";

export const VERSION: string = denoJson.version;

export const EXIT = { ok: 0, failed: 1, usage: 2, drift: 3 } as const;

// deno-lint-ignore no-explicit-any
type AnyOptions = any;
interface CommandModule {
  parseOptions(raw: AnyOptions): unknown;
  run(opts: AnyOptions, deps: Deps): Promise<Outcome>;
}
type Loader = () => Promise<CommandModule>;

interface Selected {
  name: string;
  load: Loader;
  raw: Record<string, unknown>;
  db: string | undefined;
}

const FORMAT_HELP = "output format: table or json";
const UUID_HELP = "the VM's xapi uuid (see xe vm-list)";

/** One option: commander flags syntax (`--name <value>` takes a value, `--name` is a switch). */
interface OptionSpec {
  flags: string;
  help: string;
  required?: boolean;
}

/** One command of the tree: the single source for both parsers and for --help. */
interface CommandSpec {
  name: string;
  description: string;
  example: string;
  load: Loader;
  options: OptionSpec[];
  /** Positional arguments, commander syntax: `<file>` required, `[key]` optional. */
  args?: { name: string; help: string }[];
}

const opt = (flags: string, help: string): OptionSpec => ({ flags, help });
const req = (flags: string, help: string): OptionSpec => ({ flags, help, required: true });
const FORMAT = opt("--format <format>", FORMAT_HELP);
const YES = opt("--yes", "answer yes to the confirmation in advance");
const RECONFIGURE = [
  YES,
  opt("--shutdown-timeout <seconds>", "wait this long for a clean shutdown (default 120)"),
  opt("--force-shutdown", "after a clean shutdown times out, shut the VM down hard"),
];
const loadStartupHook: Loader = () => import("./src/cli/commands/startup-hook.ts");

/** The command tree. Each command's code is imported only when that command runs. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "list-pools",
    description: "list vGPU pools A and B with their VM counts per priority",
    example: "vgpu-admin list-pools",
    load: () => import("./src/cli/commands/list-pools.ts"),
    options: [FORMAT],
  },
  {
    name: "show-pool",
    description: "show one vGPU pool and its VMs",
    example: "vgpu-admin show-pool --pool-id=A",
    load: () => import("./src/cli/commands/show-pool.ts"),
    options: [req("--pool-id <id>", "vGPU pool: A or B"), FORMAT],
  },
  {
    name: "set-pool-name",
    description: "rename a vGPU pool (metadata only; no VM is touched)",
    example:
      'vgpu-admin set-pool-name --pool-id=A --name="Production" --description="latency-sensitive"',
    load: () => import("./src/cli/commands/set-pool-name.ts"),
    options: [
      req("--pool-id <id>", "vGPU pool: A or B"),
      req("--name <text>", "new name (1-64 characters)"),
      opt("--description <text>", "description (empty clears it)"),
    ],
  },
  {
    name: "register-vm",
    description: "register a VM and write its vgpu-stub device args to xapi",
    example:
      "vgpu-admin register-vm --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --pool=B --priority=high --vm-id=8",
    load: () => import("./src/cli/commands/register-vm.ts"),
    options: [
      req("--vm-uuid <uuid>", UUID_HELP),
      opt("--vm-name <name>", "name to record (default: the VM's name-label)"),
      opt("--pool <id>", "vGPU pool: A or B (default A)"),
      opt("--priority <p>", "low, medium or high (or 0, 1, 2; default medium)"),
      opt("--vm-id <n>", "vm_id 1-2147483647 (default: the lowest unused)"),
      opt("--offline", "database only: do not check or write the VM ('sync' applies it later)"),
    ],
  },
  {
    name: "show-vm",
    description: "show one registered VM: database configuration and, from xe, what the VM carries",
    example: "vgpu-admin show-vm --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff",
    load: () => import("./src/cli/commands/show-vm.ts"),
    options: [
      req("--vm-uuid <uuid>", UUID_HELP),
      opt("--offline", "database only: do not ask xe"),
      FORMAT,
    ],
  },
  {
    name: "list-vms",
    description: "list registered VMs, optionally by vGPU pool and priority",
    example: "vgpu-admin list-vms --pool=A --priority=high",
    load: () => import("./src/cli/commands/list-vms.ts"),
    options: [
      opt("--pool <id>", "only this vGPU pool: A or B"),
      opt("--priority <p>", "only this priority: low, medium, high"),
      FORMAT,
    ],
  },
  {
    name: "remove-vm",
    description: "unregister a VM and remove its vgpu-stub device from its args",
    example: "vgpu-admin remove-vm --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --yes",
    load: () => import("./src/cli/commands/remove-vm.ts"),
    options: [
      req("--vm-uuid <uuid>", UUID_HELP),
      YES,
      opt("--offline", "database only: leave the VM's args as they are"),
    ],
  },
  {
    name: "status",
    description: "control panel: vGPU pools, their VMs, unregistered VMs, drift and stale starts",
    example: "vgpu-admin status",
    load: () => import("./src/cli/commands/status.ts"),
    options: [opt("--offline", "database only: do not ask xe"), FORMAT],
  },
  {
    name: "scan-vms",
    description: "scan the host: VMs by vGPU pool, then unregistered; args and drift",
    example: "vgpu-admin scan-vms --format=json",
    load: () => import("./src/cli/commands/scan-vms.ts"),
    options: [
      opt("--deep", "also compare the args each running VM's QEMU was started with"),
      FORMAT,
    ],
  },
  {
    name: "set-pool",
    description: "move a VM to another vGPU pool (stops and restarts a running VM)",
    example: "vgpu-admin set-pool --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --pool=B",
    load: () => import("./src/cli/commands/set-pool.ts"),
    options: [
      req("--vm-uuid <uuid>", UUID_HELP),
      req("--pool <id>", "vGPU pool: A or B"),
      ...RECONFIGURE,
    ],
  },
  {
    name: "set-priority",
    description: "change a VM's priority (stops and restarts a running VM)",
    example:
      "vgpu-admin set-priority --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --priority=high",
    load: () => import("./src/cli/commands/set-priority.ts"),
    options: [
      req("--vm-uuid <uuid>", UUID_HELP),
      req("--priority <p>", "low, medium or high"),
      ...RECONFIGURE,
    ],
  },
  {
    name: "set-vm-id",
    description: "change a VM's vm_id (stops and restarts a running VM)",
    example: "vgpu-admin set-vm-id --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --vm-id=20",
    load: () => import("./src/cli/commands/set-vm-id.ts"),
    options: [
      req("--vm-uuid <uuid>", UUID_HELP),
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
    load: () => import("./src/cli/commands/update-vm.ts"),
    options: [
      req("--vm-uuid <uuid>", UUID_HELP),
      opt("--pool <id>", "vGPU pool: A or B"),
      opt("--priority <p>", "low, medium or high"),
      opt("--vm-id <n>", "vm_id 1-2147483647"),
      ...RECONFIGURE,
    ],
  },
  {
    name: "sync",
    description: "write every registered VM's vgpu-stub args from the database to xapi",
    example: "vgpu-admin sync --check",
    load: () => import("./src/cli/commands/sync.ts"),
    options: [
      opt("--check", "change nothing; exit 3 when anything differs"),
      opt("--dry-run", "change nothing; print the xe commands sync would run"),
    ],
  },
  {
    name: "adopt",
    description: "register hand-configured VMs from the vgpu-stub args they already carry",
    example: "vgpu-admin adopt --yes",
    load: () => import("./src/cli/commands/adopt.ts"),
    options: [opt("--vm-uuid <uuid>", "adopt only this VM"), YES],
  },
  {
    name: "startup-hook",
    description: "check and repair a VM's args as it starts (run by /etc/xapi.d/vm-pre-start/)",
    example: "vgpu-admin startup-hook --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --reason=none",
    load: loadStartupHook,
    options: [req("--vm-uuid <uuid>", UUID_HELP), opt("--reason <reason>", "xapi's reason")],
  },
  {
    name: "history",
    description: "show the change log, newest first",
    example: "vgpu-admin history --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --limit=20",
    load: () => import("./src/cli/commands/history.ts"),
    options: [
      opt("--vm-uuid <uuid>", "only this VM"),
      opt("--limit <n>", "at most this many entries"),
      FORMAT,
    ],
  },
  {
    name: "export",
    description: "print the whole configuration (pools, VMs, settings) as JSON",
    example: "vgpu-admin export --output=/root/vgpu-config.json",
    load: () => import("./src/cli/commands/export.ts"),
    options: [opt("--output <file>", "write to FILE (created 0600) instead of stdout")],
  },
  {
    name: "import",
    description: "load a configuration exported by 'export', all or nothing",
    example: "vgpu-admin import /root/vgpu-config.json --dry-run",
    load: () => import("./src/cli/commands/import.ts"),
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
    load: () => import("./src/cli/commands/install-hook.ts"),
    options: [
      opt("--binary <path>", "absolute path the hook runs (default /usr/local/bin/vgpu-admin)"),
      opt("--root <dir>", "install under DIR instead of / (for tests and image builds)"),
    ],
  },
  {
    name: "uninstall-hook",
    description: "remove what install-hook installed (the database is kept)",
    example: "vgpu-admin uninstall-hook",
    load: () => import("./src/cli/commands/uninstall-hook.ts"),
    options: [opt("--root <dir>", "work under DIR instead of /")],
  },
  {
    name: "doctor",
    description:
      "check the installation, database, hook, xe, drift and running VMs; one line per check",
    example: "vgpu-admin doctor",
    load: () => import("./src/cli/commands/doctor.ts"),
    options: [opt("--root <dir>", "look under DIR instead of /"), FORMAT],
  },
  {
    name: "completions",
    description: "print a shell completion script: completions bash|zsh|fish",
    example: "vgpu-admin completions bash > /etc/bash_completion.d/vgpu-admin",
    load: () => import("./src/cli/commands/completions.ts"),
    args: [{ name: "<shell>", help: "bash, zsh or fish" }],
    options: [],
  },
  {
    name: "settings",
    description: "show settings, or set one: settings [KEY [VALUE]]",
    example: "vgpu-admin settings hook-strict on",
    load: () => import("./src/cli/commands/settings.ts"),
    args: [{ name: "[key]", help: "setting name" }, { name: "[value]", help: "new value" }],
    options: [opt("--unset", "reset KEY to its default"), FORMAT],
  },
  {
    name: "schema",
    description: "print the SQL of the database schema",
    example: "vgpu-admin schema",
    load: () => import("./src/cli/commands/schema.ts"),
    options: [],
  },
];

const DB_OPTION = opt(
  "--db <path>",
  "database file (default: $VGPU_DB or /etc/vgpu/vgpu_config.db)",
);

/** Builds the commander tree from COMMANDS; `select` receives the chosen command. */
export async function buildProgram(select: (s: Selected) => void, io: IO): Promise<Command> {
  const { Command } = await import("@commander-js/extra-typings");
  const program = new Command()
    .name("vgpu-admin")
    .description(
      "Configure which vGPU pool (A or B), priority and vm_id each XCP-ng VM's vgpu-stub device gets.",
    )
    .version(VERSION, "-V, --version", "print the version")
    .option(DB_OPTION.flags, DB_OPTION.help)
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.out.write(s),
      writeErr: (s) => io.err.write(s),
      // One line: commander puts "(Did you mean …?)" on a line of its own.
      outputError: (s, write) => write(oneLine(s) + "\n"),
    })
    .exitOverride()
    .addHelpText(
      "after",
      "\nExit codes: 0 ok, 1 failed (or declined), 2 usage error, 3 drift found by 'sync --check'.",
    );
  for (const spec of COMMANDS) {
    const cmd = program.command(spec.name).description(spec.description)
      .addHelpText("after", `\nExample:\n  $ ${spec.example}`)
      .exitOverride();
    for (const a of spec.args ?? []) cmd.argument(a.name, a.help);
    for (const o of spec.options) {
      if (o.required) cmd.requiredOption(o.flags, o.help);
      else cmd.option(o.flags, o.help);
    }
    cmd.action((...args: unknown[]) => {
      const c = args[args.length - 1] as Command;
      select({
        name: spec.name,
        load: spec.load,
        raw: { ...c.opts(), args: c.args },
        db: (c.optsWithGlobals() as { db?: string }).db,
      });
    });
  }
  return program;
}

/** `--vm-uuid` → `vmUuid`, as commander names an option's value. */
function optionKey(long: string): string {
  return long.slice(2).replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
}

/**
 * The fast path: parses a well-formed command line against COMMANDS without loading commander
 * (any npm package costs ~22 ms of start-up, measured; the hook runs at every VM start).
 * Returns null for anything else (help, version, unknown or repeated options, missing values,
 * short options, a value that starts with "-"): commander then parses it, prints help or the
 * error, so both paths accept exactly the same command lines with the same meaning.
 */
export function fastParse(argv: readonly string[]): Selected | null {
  const spec = COMMANDS.find((c) => c.name === argv[0]);
  if (spec === undefined) return null;
  const raw: Record<string, unknown> = {};
  const args: string[] = [];
  let db: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const long = eq > 0 ? a.slice(0, eq) : a;
      const o = long === "--db"
        ? DB_OPTION
        : spec.options.find((x) => x.flags.split(" ")[0] === long);
      if (o === undefined) return null;
      const key = optionKey(long);
      if (key in raw || (long === "--db" && db !== undefined)) return null;
      let value: string | true = true;
      if (o.flags.includes(" <")) {
        const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined || (eq < 0 && v.startsWith("-"))) return null;
        value = v;
      } else if (eq > 0) return null;
      if (long === "--db") db = value as string;
      else raw[key] = value;
    } else if (a.startsWith("-") && a !== "-") {
      return null;
    } else {
      args.push(a);
    }
  }
  if (spec.options.some((o) => o.required && !(optionKey(o.flags.split(" ")[0]) in raw))) {
    return null;
  }
  const declared = spec.args ?? [];
  const needed = declared.filter((a) => a.name.startsWith("<")).length;
  if (args.length < needed || args.length > declared.length) return null;
  return { name: spec.name, load: spec.load, raw: { ...raw, args }, db };
}

function oneLine(s: string): string {
  return s.trim().split("\n").map((l) => l.trim()).filter((l) => l !== "").join(" ");
}

/** The one place where an error becomes text and an exit code (style.md rule 6). */
export function exitCodeFor(e: unknown, io: IO, debug: boolean): number {
  if (e instanceof UsageError) {
    io.err.write(`error: ${e.message}\n`);
    return EXIT.usage;
  }
  if (e instanceof VgpuError) {
    io.err.write(e.name === "DeclinedError" ? `${e.message}\n` : `error: ${e.message}\n`);
    return EXIT.failed;
  }
  const msg = e instanceof Error ? e.message : String(e);
  io.err.write(`bug: ${oneLine(msg)} (please report it; VGPU_DEBUG=1 shows the stack)\n`);
  if (debug && e instanceof Error && e.stack) io.err.write(e.stack + "\n");
  return EXIT.failed;
}

export interface MainInput {
  argv: string[];
  io: IO;
  env: Env;
  prompt: Prompt;
  now?: () => Date;
}

/** Runs one command line and returns the exit code. */
export async function main(input: MainInput): Promise<number> {
  const { io, env } = input;
  const fast = fastParse(input.argv);
  if (fast !== null) return await runSelected(fast, input);
  let selected: Selected | null = null;
  const program = await buildProgram((s) => (selected = s), io);
  try {
    await program.parseAsync(input.argv, { from: "user" });
  } catch (e) {
    const { CommanderError } = await import("@commander-js/extra-typings");
    if (e instanceof CommanderError) {
      // --help and --version end here with exit code 0. The start hook never exits 2 for a
      // usage error: 2 means a strict refusal to xapi (design.md §4).
      if (e.exitCode === 0) return EXIT.ok;
      return input.argv[0] === "startup-hook" ? EXIT.failed : EXIT.usage;
    }
    return exitCodeFor(e, io, env.get("VGPU_DEBUG") === "1");
  }
  if (selected === null) {
    io.err.write("error: no command given; see 'vgpu-admin --help'\n");
    return EXIT.usage;
  }
  return await runSelected(selected, input);
}

async function runSelected(s: Selected, input: MainInput): Promise<number> {
  const deps = createDeps({
    io: input.io,
    env: input.env,
    prompt: input.prompt,
    command: s.name,
    dbOption: s.db,
    now: input.now,
  });
  try {
    const mod = await s.load();
    const outcome = await mod.run(mod.parseOptions(s.raw), deps);
    if (outcome === "degraded") return EXIT.failed;
    if (outcome === "drift") return EXIT.drift;
    if (outcome === "refused") return EXIT.usage; // 2: xapi aborts the start (design.md §4)
    return EXIT.ok;
  } catch (e) {
    const code = exitCodeFor(e, input.io, input.env.get("VGPU_DEBUG") === "1");
    // The start hook exits 2 only for a strict refusal (design.md §4): never for a usage error.
    return s.name === "startup-hook" && code === EXIT.usage ? EXIT.failed : code;
  } finally {
    deps.close();
  }
}

// ---- binding to the real process -----------------------------------------------------------

function systemIo(): IO {
  const enc = new TextEncoder();
  const closed = new Set<unknown>();
  const writeAll = (f: typeof Deno.stdout, text: string) => {
    if (closed.has(f)) return;
    const buf = enc.encode(text);
    let off = 0;
    try {
      while (off < buf.length) off += f.writeSync(buf.subarray(off));
    } catch (e) {
      // The reader went away (`vgpu-admin list-vms | head`): drop the rest, as other CLIs do.
      if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
      closed.add(f);
    }
  };
  let pending = "";
  const dec = new TextDecoder();
  return {
    out: { write: (t) => writeAll(Deno.stdout, t) },
    err: { write: (t) => writeAll(Deno.stderr, t) },
    color: Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined,
    interactive: Deno.stdin.isTerminal() && Deno.stderr.isTerminal(),
    async readLine() {
      // Reads byte chunks until a newline: enough for one confirmation answer.
      const buf = new Uint8Array(256);
      while (!pending.includes("\n")) {
        const n = await Deno.stdin.read(buf);
        if (n === null) {
          if (pending === "") return null;
          const last = pending;
          pending = "";
          return last;
        }
        pending += dec.decode(buf.subarray(0, n), { stream: true });
      }
      const i = pending.indexOf("\n");
      const line = pending.slice(0, i).replace(/\r$/, "");
      pending = pending.slice(i + 1);
      return line;
    },
  };
}

const inquirerPrompt: Prompt = {
  async ask(question) {
    const [{ input }, { stderr }] = await Promise.all([
      import("@inquirer/prompts"),
      import("node:process"),
    ]);
    // The question goes to stderr so that stdout stays the command's data (style.md rule 4).
    return await input({ message: question.replace(/:$/, "") }, { output: stderr });
  },
};

if (import.meta.main) {
  const io = systemIo();
  const env: Env = { get: (n) => Deno.env.get(n), all: () => Deno.env.toObject() };
  const code = await main({ argv: Deno.args, io, env, prompt: inquirerPrompt });
  Deno.exit(code);
}

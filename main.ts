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

/** Builds the command tree; `select` receives the chosen command instead of running it. */
export async function buildProgram(select: (s: Selected) => void, io: IO): Promise<Command> {
  const { Command, Option } = await import("@commander-js/extra-typings");
  const program = new Command()
    .name("vgpu-admin")
    .description(
      "Configure which vGPU pool (A or B), priority and vm_id each XCP-ng VM's vgpu-stub device gets.",
    )
    .version(VERSION, "-V, --version", "print the version")
    .option("--db <path>", "database file (default: $VGPU_DB or /etc/vgpu/vgpu_config.db)")
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

  const add = (
    name: string,
    description: string,
    example: string,
    load: Loader,
  ) => {
    const cmd = program.command(name).description(description)
      .addHelpText("after", `\nExample:\n  $ ${example}`)
      .exitOverride();
    cmd.action((...args: unknown[]) => {
      const c = args[args.length - 1] as Command;
      select({
        name,
        load,
        raw: { ...c.opts(), args: c.args },
        db: (c.optsWithGlobals() as { db?: string }).db,
      });
    });
    return cmd;
  };
  const format = () => new Option("--format <format>", FORMAT_HELP);
  const uuid = "--vm-uuid <uuid>";
  const uuidHelp = "the VM's xapi uuid (see xe vm-list)";
  const reconfigOptions = (c: Command<AnyOptions, AnyOptions>) =>
    c.option("--yes", "answer yes to the confirmation in advance")
      .option("--shutdown-timeout <seconds>", "wait this long for a clean shutdown (default 120)")
      .option("--force-shutdown", "after a clean shutdown times out, shut the VM down hard");

  add(
    "list-pools",
    "list vGPU pools A and B with their VM counts per priority",
    "vgpu-admin list-pools",
    () => import("./src/cli/commands/list-pools.ts"),
  ).addOption(format());
  add(
    "show-pool",
    "show one vGPU pool and its VMs",
    "vgpu-admin show-pool --pool-id=A",
    () => import("./src/cli/commands/show-pool.ts"),
  ).requiredOption("--pool-id <id>", "vGPU pool: A or B").addOption(format());
  add(
    "set-pool-name",
    "rename a vGPU pool (metadata only; no VM is touched)",
    'vgpu-admin set-pool-name --pool-id=A --name="Production" --description="latency-sensitive"',
    () => import("./src/cli/commands/set-pool-name.ts"),
  ).requiredOption("--pool-id <id>", "vGPU pool: A or B")
    .requiredOption("--name <text>", "new name (1-64 characters)")
    .option("--description <text>", "description (empty clears it)");
  add(
    "register-vm",
    "register a VM and write its vgpu-stub device args to xapi",
    "vgpu-admin register-vm --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --pool=B --priority=high --vm-id=8",
    () => import("./src/cli/commands/register-vm.ts"),
  ).requiredOption(uuid, uuidHelp)
    .option("--vm-name <name>", "name to record (default: the VM's name-label)")
    .option("--pool <id>", "vGPU pool: A or B (default A)")
    .option("--priority <p>", "low, medium or high (or 0, 1, 2; default medium)")
    .option("--vm-id <n>", "vm_id 1-2147483647 (default: the lowest unused)")
    .option("--offline", "database only: do not check or write the VM ('sync' applies it later)");
  add(
    "show-vm",
    "show one registered VM: database configuration and, from xe, what the VM carries",
    "vgpu-admin show-vm --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff",
    () => import("./src/cli/commands/show-vm.ts"),
  ).requiredOption(uuid, uuidHelp)
    .option("--offline", "database only: do not ask xe")
    .addOption(format());
  add(
    "list-vms",
    "list registered VMs, optionally by vGPU pool and priority",
    "vgpu-admin list-vms --pool=A --priority=high",
    () => import("./src/cli/commands/list-vms.ts"),
  ).option("--pool <id>", "only this vGPU pool: A or B")
    .option("--priority <p>", "only this priority: low, medium, high")
    .addOption(format());
  add(
    "remove-vm",
    "unregister a VM and remove its vgpu-stub device from its args",
    "vgpu-admin remove-vm --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --yes",
    () => import("./src/cli/commands/remove-vm.ts"),
  ).requiredOption(uuid, uuidHelp)
    .option("--yes", "answer yes to the confirmation in advance")
    .option("--offline", "database only: leave the VM's args as they are");
  add(
    "status",
    "control panel: vGPU pools, their VMs, unregistered VMs, drift and stale starts",
    "vgpu-admin status",
    () => import("./src/cli/commands/status.ts"),
  ).option("--offline", "database only: do not ask xe").addOption(format());
  add(
    "scan-vms",
    "scan the host: VMs by vGPU pool, then unregistered; args and drift",
    "vgpu-admin scan-vms --format=json",
    () => import("./src/cli/commands/scan-vms.ts"),
  ).option("--deep", "also compare the args each running VM's QEMU was started with")
    .addOption(format());
  for (
    const [name, what, example, load] of [
      [
        "set-pool",
        "move a VM to another vGPU pool (stops and restarts a running VM)",
        "vgpu-admin set-pool --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --pool=B",
        () => import("./src/cli/commands/set-pool.ts"),
      ],
      [
        "set-priority",
        "change a VM's priority (stops and restarts a running VM)",
        "vgpu-admin set-priority --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --priority=high",
        () => import("./src/cli/commands/set-priority.ts"),
      ],
      [
        "set-vm-id",
        "change a VM's vm_id (stops and restarts a running VM)",
        "vgpu-admin set-vm-id --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --vm-id=20",
        () => import("./src/cli/commands/set-vm-id.ts"),
      ],
      [
        "update-vm",
        "change several of pool, priority, vm_id at once (stops and restarts a running VM)",
        "vgpu-admin update-vm --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --pool=B --priority=low",
        () => import("./src/cli/commands/update-vm.ts"),
      ],
    ] as const
  ) {
    const c = add(name, what, example, load).requiredOption(uuid, uuidHelp);
    if (name === "set-pool") c.requiredOption("--pool <id>", "vGPU pool: A or B");
    if (name === "set-priority") c.requiredOption("--priority <p>", "low, medium or high");
    if (name === "set-vm-id") c.requiredOption("--vm-id <n>", "new vm_id 1-2147483647");
    if (name === "update-vm") {
      c.option("--pool <id>", "vGPU pool: A or B")
        .option("--priority <p>", "low, medium or high")
        .option("--vm-id <n>", "vm_id 1-2147483647");
    }
    reconfigOptions(c);
  }
  add(
    "sync",
    "write every registered VM's vgpu-stub args from the database to xapi",
    "vgpu-admin sync --check",
    () => import("./src/cli/commands/sync.ts"),
  ).option("--check", "change nothing; exit 3 when anything differs")
    .option("--dry-run", "change nothing; print the xe commands sync would run");
  add(
    "adopt",
    "register hand-configured VMs from the vgpu-stub args they already carry",
    "vgpu-admin adopt --yes",
    () => import("./src/cli/commands/adopt.ts"),
  ).option(uuid, "adopt only this VM")
    .option("--yes", "answer yes to the confirmation in advance");
  add(
    "startup-hook",
    "check and repair a VM's args as it starts (run by /etc/xapi.d/vm-pre-start/)",
    "vgpu-admin startup-hook --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --reason=none",
    loadStartupHook,
  ).requiredOption(uuid, uuidHelp).option("--reason <reason>", "xapi's reason");
  add(
    "history",
    "show the change log, newest first",
    "vgpu-admin history --vm-uuid=7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff --limit=20",
    () => import("./src/cli/commands/history.ts"),
  ).option(uuid, "only this VM").option("--limit <n>", "at most this many entries")
    .addOption(format());
  add(
    "export",
    "print the whole configuration (pools, VMs, settings) as JSON",
    "vgpu-admin export --output=/root/vgpu-config.json",
    () => import("./src/cli/commands/export.ts"),
  ).option("--output <file>", "write to FILE (created 0600) instead of stdout");
  add(
    "import",
    "load a configuration exported by 'export', all or nothing",
    "vgpu-admin import /root/vgpu-config.json --dry-run",
    () => import("./src/cli/commands/import.ts"),
  ).argument("<file>", "the JSON file ('-' for stdin)")
    .option("--dry-run", "validate and show what would change; change nothing")
    .option("--replace", "replace the whole configuration (a backup is taken first)")
    .option("--yes", "answer yes to the confirmation in advance")
    .option("--offline", "database only: do not write the imported VMs' args to the host");
  add(
    "install-hook",
    "install the vm-pre-start hook script, its log rotation, and the database",
    "vgpu-admin install-hook",
    () => import("./src/cli/commands/install-hook.ts"),
  ).option("--binary <path>", "absolute path the hook runs (default /usr/local/bin/vgpu-admin)")
    .option("--root <dir>", "install under DIR instead of / (for tests and image builds)");
  add(
    "uninstall-hook",
    "remove what install-hook installed (the database is kept)",
    "vgpu-admin uninstall-hook",
    () => import("./src/cli/commands/uninstall-hook.ts"),
  ).option("--root <dir>", "work under DIR instead of /");
  add(
    "doctor",
    "check the installation, database, hook, xe, drift and running VMs; one line per check",
    "vgpu-admin doctor",
    () => import("./src/cli/commands/doctor.ts"),
  ).option("--root <dir>", "look under DIR instead of /").addOption(format());
  add(
    "completions",
    "print a shell completion script: completions bash|zsh|fish",
    "vgpu-admin completions bash > /etc/bash_completion.d/vgpu-admin",
    () => import("./src/cli/commands/completions.ts"),
  ).argument("<shell>", "bash, zsh or fish");
  add(
    "settings",
    "show settings, or set one: settings [KEY [VALUE]]",
    "vgpu-admin settings hook-strict on",
    () => import("./src/cli/commands/settings.ts"),
  ).argument("[key]", "setting name").argument("[value]", "new value")
    .option("--unset", "reset KEY to its default").addOption(format());
  add(
    "schema",
    "print the SQL of the database schema",
    "vgpu-admin schema",
    () => import("./src/cli/commands/schema.ts"),
  );
  return program;
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

const loadStartupHook: Loader = () => import("./src/cli/commands/startup-hook.ts");

/**
 * The start hook's own argv parser: xapi runs it at every VM start, and commander alone costs
 * ~25 ms of start-up (measured), so `startup-hook` without --help skips it. Same options, same
 * `--name=value` / `--name value` forms; anything else is an error with exit 1 (never 2).
 */
function parseHookArgv(argv: string[], io: IO): Selected | number {
  const raw: Record<string, string> = {};
  const names: Record<string, string> = {
    "--vm-uuid": "vmUuid",
    "--reason": "reason",
    "--db": "db",
  };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf("=");
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const key = names[flag];
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (key === undefined || value === undefined) {
      io.err.write(
        `error: startup-hook: ${
          key === undefined
            ? `unknown argument ${JSON.stringify(a)}`
            : `option ${flag} needs a value`
        }; see 'vgpu-admin startup-hook --help'\n`,
      );
      return EXIT.failed;
    }
    raw[key] = value;
  }
  if (raw.vmUuid === undefined) {
    io.err.write("error: startup-hook: required option '--vm-uuid <uuid>' not specified\n");
    return EXIT.failed;
  }
  const { db, ...opts } = raw;
  return { name: "startup-hook", load: loadStartupHook, raw: opts, db };
}

/** Runs one command line and returns the exit code. */
export async function main(input: MainInput): Promise<number> {
  const { io, env } = input;
  if (input.argv[0] === "startup-hook" && !input.argv.some((a) => a === "--help" || a === "-h")) {
    const s = parseHookArgv(input.argv, io);
    return typeof s === "number" ? s : await runSelected(s, input);
  }
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

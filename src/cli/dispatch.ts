// Runs one command line: parse (fast path, else commander), load the command, run it with its
// deps, and turn its outcome or error into the exit code.
import type { Prompt } from "./confirm.ts";
import { fastParse } from "./fast-parse.ts";
import { type Selected, VERSION } from "./command-table.ts";
import { type Loader, RawOptions } from "./command.ts";
import { LOADERS } from "./command-loaders.ts";
import { createDeps, type Env } from "./deps.ts";
import { EXIT, exitCodeFor, SIGNAL_EXIT } from "./exit-code.ts";
import type { IO } from "./io.ts";
import { printable } from "../domain/printable.ts";

export interface MainInput {
  argv: string[];
  io: IO;
  env: Env;
  prompt: Prompt;
  now?: () => Date;
  /** Tests only: replaces commands' implementations (default: command-loaders.ts). */
  loaders?: Readonly<Record<string, Loader>>;
}

/** Runs one command line and returns the exit code. */
export async function main(input: MainInput): Promise<number> {
  const { io, env } = input;
  // `--version` alone needs no parser: answered before commander loads (issue 12, start-up).
  if (input.argv.length === 1 && (input.argv[0] === "--version" || input.argv[0] === "-V")) {
    io.out.write(`${VERSION}\n`);
    return EXIT.ok;
  }
  const fast = fastParse(input.argv);
  if (fast !== null) return await runSelected(fast, input);
  // Everything else (help, errors, suggestions) loads only now: not on the hook's path.
  const [{ argvProblem }, { buildProgram }] = await Promise.all([
    import("./argv-check.ts"),
    import("./program.ts"),
  ]);
  const problem = argvProblem(input.argv);
  if (problem !== null) {
    io.err.write(`error: ${printable(problem.message)}\n`);
    // The start hook never exits 2 for a usage error: 2 means a strict refusal (design.md §4).
    return problem.command === "startup-hook" ? EXIT.failed : EXIT.usage;
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
  let deps: ReturnType<typeof createDeps> | null = null;
  try {
    // Inside the try: an empty --db or VGPU_DB is a usage error like any other.
    deps = createDeps({
      io: input.io,
      env: input.env,
      prompt: input.prompt,
      command: s.name,
      dbOption: s.db,
      now: input.now,
    });
    const mod = await (input.loaders ?? LOADERS)[s.name]();
    const { args, ...values } = s.raw;
    const raw = new RawOptions(values, Array.isArray(args) ? args : []);
    const outcome = await mod.run(mod.parseOptions(raw), deps);
    const sig = deps.interrupts.received();
    if (sig !== null) return SIGNAL_EXIT[sig]; // finished after a signal: 130/143/129 (§5 step 9)
    if (outcome === "degraded") return EXIT.failed;
    if (outcome === "drift") return EXIT.drift;
    if (outcome === "refused") return EXIT.usage; // 2: xapi aborts the start (design.md §4)
    return EXIT.ok;
  } catch (e) {
    const code = exitCodeFor(e, input.io, input.env.get("VGPU_DEBUG") === "1");
    const sig = deps?.interrupts.received() ?? null;
    if (sig !== null) return SIGNAL_EXIT[sig];
    // The start hook exits 2 only for a strict refusal (design.md §4): never for a usage error.
    return s.name === "startup-hook" && code === EXIT.usage ? EXIT.failed : code;
  } finally {
    deps?.close();
  }
}

// Runs one command line: parse it (argv.ts, the one parser), load the command, run it with its
// deps, and turn its outcome or error into the exit code.
import type { Clock } from "../domain/clock.ts";
import type { Prompt } from "./confirm.ts";
import { parseArgv } from "./argv.ts";
import { type Selected, VERSION } from "./command-table.ts";
import { type Loader, RawOptions } from "./command.ts";
import { LOADERS } from "./command-loaders.ts";
import type { createDeps, Env, XeRunnerSource } from "./deps.ts";
import { EXIT, exitCodeFor, SIGNAL_EXIT, usageExit } from "./exit-code.ts";
import type { IO } from "./io.ts";
import type { EarlyCall } from "../xe/runner.ts";
import { printable } from "../domain/printable.ts";

export interface MainInput {
  argv: string[];
  io: IO;
  env: Env;
  prompt: Prompt;
  now?: () => Date;
  /** Tests only: a clock that never waits, an in-process xe runner, a short SQLite busy wait. */
  clock?: Clock;
  xeRunner?: XeRunnerSource;
  busyTimeoutMs?: number;
  /** An xe call main.ts spawned before loading the command (src/xe/early.ts). */
  early?: EarlyCall;
  /** The process itself (main.ts): a signal outside a change ends its xe reads, then it (signal-exit.ts). */
  process?: boolean;
  /** Tests only: replaces commands' implementations (default: command-loaders.ts). */
  loaders?: Readonly<Record<string, Loader>>;
}

/** Runs one command line and returns the exit code. */
export async function main(input: MainInput): Promise<number> {
  const { io } = input;
  const parsed = parseArgv(input.argv);
  switch (parsed.kind) {
    case "run":
      return await runSelected(parsed.selected, input);
    case "version":
      io.out.write(`${VERSION}\n`);
      return EXIT.ok;
    case "help": {
      // laid out only when asked for: not on the hook's path
      const { helpText } = await import("./help.ts");
      // wrapped to the width of the terminal it goes to: stdout's, or stderr's without a command
      const text = helpText(parsed.command, (parsed.usage ? io.errColumns : io.columns) ?? 80);
      if (!parsed.usage) {
        io.out.write(text);
        return EXIT.ok;
      }
      io.err.write(text); // no command given
      return EXIT.usage;
    }
    case "error":
      io.err.write(`error: ${printable(parsed.message)}\n`);
      return usageExit(parsed.command);
  }
}

async function runSelected(s: Selected, input: MainInput): Promise<number> {
  let deps: ReturnType<typeof createDeps> | null = null;
  try {
    // loaded here, not with this module: --help and usage errors need no store or xe modules
    const { createDeps } = await import("./deps.ts");
    // Inside the try: an empty --db or VGPU_DB is a usage error like any other.
    deps = createDeps({
      io: input.io,
      env: input.env,
      prompt: input.prompt,
      command: s.name,
      dbOption: s.db,
      now: input.now,
      clock: input.clock,
      xeRunner: input.xeRunner,
      busyTimeoutMs: input.busyTimeoutMs,
      early: input.early,
      process: input.process,
    });
    const mod = await (input.loaders ?? LOADERS)[s.name]();
    const { args, ...values } = s.raw;
    const raw = new RawOptions(values, Array.isArray(args) ? args : []);
    const outcome = await mod.run(mod.parseOptions(raw), deps);
    await deps.settleSignals(); // a Ctrl-C during its last part (the output written) counts
    const sig = deps.interrupts.received();
    if (sig !== null) return SIGNAL_EXIT[sig]; // finished after a signal: 130/143/129 (§5 step 9)
    if (outcome === "degraded") return EXIT.failed;
    if (outcome === "drift") return EXIT.drift;
    if (outcome === "refused") return EXIT.usage; // 2: xapi aborts the start (design.md §4)
    return EXIT.ok;
  } catch (e) {
    const code = exitCodeFor(e, input.io, input.env.get("VGPU_DEBUG") === "1");
    await deps?.settleSignals();
    const sig = deps?.interrupts.received() ?? null;
    if (sig !== null) return SIGNAL_EXIT[sig];
    return code === EXIT.usage ? usageExit(s.name) : code;
  } finally {
    deps?.close();
  }
}

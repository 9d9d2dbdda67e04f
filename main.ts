// vgpu-admin entry point: binds the program (src/cli/dispatch.ts) to the real process.
// A command's code is imported only when it runs: the start hook runs at every VM start, so
// start-up time is part of the product (design.md §6).
import type { Env } from "./src/cli/deps.ts";
import denoJson from "./deno.json" with { type: "json" };

/** The CLI (cli.ts), imported by a computed specifier: prepared only when a command needs it. */
const CLI = import.meta.url.endsWith(".js") ? "./cli.js" : "./cli.ts";

if (import.meta.main) {
  // `--version` alone loads nothing else: no parser, store or xe modules (issue 12).
  if (Deno.args.length === 1 && (Deno.args[0] === "--version" || Deno.args[0] === "-V")) {
    Deno.stdout.writeSync(new TextEncoder().encode(`${denoJson.version}\n`));
    Deno.exit(0);
  }
  // The VM hooks' path loads none of the CLI (issue 19): src/hook/ only.
  if (Deno.args[0] === "startup-hook") {
    const { runHookEntry } = await import("./hook.ts");
    Deno.exit(await runHookEntry());
  }
  const env: Env = { get: (n) => Deno.env.get(n), all: () => Deno.env.toObject() };
  // scan-vms: xe's vm-list runs while the command loads and opens the database (issue 19);
  // pool status: its three calls likewise (issue 17)
  const early = Deno.args.includes("scan-vms")
    ? (await import("./src/cli/early-scan.ts")).startEarlyScan(Deno.args, env)
    : Deno.args.includes("pool-status") || Deno.args.includes("pool")
    ? (await import("./src/cli/early-pool.ts")).startEarlyPoolStatus(Deno.args, env)
    : null;
  // from now on a signal ends those calls with us (the command's runner keeps it so)
  if (early !== null) (await import("./src/cli/signal-exit.ts")).endReadsOnSignal();
  const { main, systemIo, terminalPrompt } =
    await (import(CLI) as Promise<typeof import("./cli.ts")>);
  const io = systemIo();
  let code: number;
  try {
    code = await main({
      argv: Deno.args,
      io,
      env,
      prompt: terminalPrompt,
      early: early ?? undefined,
      process: true,
    });
  } finally {
    await early?.release(); // not taken over (an error came first): never left running
  }
  Deno.exit(code);
}

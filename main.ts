// vgpu-admin entry point: binds the program (src/cli/dispatch.ts) to the real process.
// A command's code is imported only when it runs: the start hook runs at every VM start, so
// start-up time is part of the product (design.md §6).
import type { Env } from "./src/cli/deps.ts";
import { main } from "./src/cli/dispatch.ts";
import { systemIo, terminalPrompt } from "./src/cli/process-io.ts";

export { main } from "./src/cli/dispatch.ts";

if (import.meta.main) {
  const io = systemIo();
  const env: Env = { get: (n) => Deno.env.get(n), all: () => Deno.env.toObject() };
  const code = await main({ argv: Deno.args, io, env, prompt: terminalPrompt });
  Deno.exit(code);
}

// vgpu-admin's CLI behind main.ts (issue 19): main.ts imports this file by a computed specifier,
// so that Deno reads and analyses the CLI's ~50 modules only when a command needs them: after
// scan-vms' and pool status's early xe calls are spawned, and never for the start hook or
// --version (a literal import() is prepared, whole graph, before main.ts runs: ~3 ms). At the
// root like main.ts and hook.ts: in the bundle it is lib/app/cli.js beside main.js, from where
// src/cli/command-loaders.ts finds the commands (./src/cli/commands/<name>.js).
export { main } from "./src/cli/dispatch.ts";
export { systemIo, terminalPrompt } from "./src/cli/process-io.ts";

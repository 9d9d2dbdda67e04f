// Which file implements each command, imported only when that command runs (design.md §6).
// Kept apart from command-table.ts so that reading the table (completions, the parser, --help)
// never reaches a command's code: the import graph stays acyclic.
//
// The specifier is computed, not a literal: before a program runs, Deno reads and analyses every
// module that a literal import() can reach (all 32 commands and their graphs, ~5 ms of every
// start: issue 19), while a computed one is prepared only when it is imported. In the bundle
// (build:portable, lib/app/) each command file is an entry of its own, kept at its source path
// (src/cli/commands/<name>.js) beside main.js and the chunks, where this code lands.
import { type CommandModule, erase, type Loader } from "./command.ts";

/** The command files by command name. Types only: nothing here is imported at run time. */
interface Files {
  "list-pools": typeof import("./commands/list-pools.ts");
  "show-pool": typeof import("./commands/show-pool.ts");
  "set-pool-name": typeof import("./commands/set-pool-name.ts");
  "enable-pool": typeof import("./commands/enable-pool.ts");
  "disable-pool": typeof import("./commands/disable-pool.ts");
  "register-vm": typeof import("./commands/register-vm.ts");
  "show-vm": typeof import("./commands/show-vm.ts");
  "list-vms": typeof import("./commands/list-vms.ts");
  "remove-vm": typeof import("./commands/remove-vm.ts");
  "recover": typeof import("./commands/recover.ts");
  "status": typeof import("./commands/status.ts");
  "scan-vms": typeof import("./commands/scan-vms.ts");
  "set-pool": typeof import("./commands/set-pool.ts");
  "set-priority": typeof import("./commands/set-priority.ts");
  "set-vm-id": typeof import("./commands/set-vm-id.ts");
  "update-vm": typeof import("./commands/update-vm.ts");
  "sync": typeof import("./commands/sync.ts");
  "adopt": typeof import("./commands/adopt.ts");
  "startup-hook": typeof import("./commands/startup-hook.ts");
  "history": typeof import("./commands/history.ts");
  "export": typeof import("./commands/export.ts");
  "import": typeof import("./commands/import.ts");
  "install-hook": typeof import("./commands/install-hook.ts");
  "uninstall-hook": typeof import("./commands/uninstall-hook.ts");
  "doctor": typeof import("./commands/doctor.ts");
  "completions": typeof import("./commands/completions.ts");
  "settings": typeof import("./commands/settings.ts");
  "schema": typeof import("./commands/schema.ts");
  "pool-enable": typeof import("./commands/pool-enable.ts");
  "pool-status": typeof import("./commands/pool-status.ts");
  "pool-reconcile": typeof import("./commands/pool-reconcile.ts");
  "pool-disable": typeof import("./commands/pool-disable.ts");
}

/** Compile-time check that every file exports `command = defineCommand({…})`. */
type Checked<T extends Record<keyof Files, true>> = T;
export type CommandFilesChecked = Checked<
  { [K in keyof Files]: Files[K]["command"] extends CommandModule<infer _O> ? true : false }
>;

const BUNDLED = import.meta.url.endsWith(".js");

/** The file of command `name`, as import() takes it here: source tree or bundle. */
export function commandFile(name: string): string {
  return BUNDLED ? `./src/cli/commands/${name}.js` : `./commands/${name}.ts`;
}

function loader<K extends keyof Files>(name: K): Loader {
  return async () => {
    const file = commandFile(name);
    const m = await import(file) as Files[K];
    return erase(m.command as CommandModule<unknown>);
  };
}

/** Command name → its implementation, loaded on demand. */
export const LOADERS: Readonly<Record<string, Loader>> = Object.fromEntries(
  ([
    "list-pools",
    "show-pool",
    "set-pool-name",
    "enable-pool",
    "disable-pool",
    "register-vm",
    "show-vm",
    "list-vms",
    "remove-vm",
    "recover",
    "status",
    "scan-vms",
    "set-pool",
    "set-priority",
    "set-vm-id",
    "update-vm",
    "sync",
    "adopt",
    "startup-hook",
    "history",
    "export",
    "import",
    "install-hook",
    "uninstall-hook",
    "doctor",
    "completions",
    "settings",
    "schema",
    "pool-enable",
    "pool-status",
    "pool-reconcile",
    "pool-disable",
  ] as const satisfies readonly (keyof Files)[]).map((n) => [n, loader(n)]),
);

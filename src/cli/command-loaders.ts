// Which file implements each command of the table, imported only when that command runs
// (design.md §6). Kept apart from command-table.ts so that reading the table (completions,
// both parsers, --help) never reaches a command's code: the import graph stays acyclic.
import { erase, type Loader } from "./command.ts";

/** Command name → its implementation, loaded on demand. */
export const LOADERS: Readonly<Record<string, Loader>> = {
  "list-pools": () => import("./commands/list-pools.ts").then((m) => erase(m.command)),
  "show-pool": () => import("./commands/show-pool.ts").then((m) => erase(m.command)),
  "set-pool-name": () => import("./commands/set-pool-name.ts").then((m) => erase(m.command)),
  "enable-pool": () => import("./commands/enable-pool.ts").then((m) => erase(m.command)),
  "disable-pool": () => import("./commands/disable-pool.ts").then((m) => erase(m.command)),
  "register-vm": () => import("./commands/register-vm.ts").then((m) => erase(m.command)),
  "show-vm": () => import("./commands/show-vm.ts").then((m) => erase(m.command)),
  "list-vms": () => import("./commands/list-vms.ts").then((m) => erase(m.command)),
  "remove-vm": () => import("./commands/remove-vm.ts").then((m) => erase(m.command)),
  "recover": () => import("./commands/recover.ts").then((m) => erase(m.command)),
  "status": () => import("./commands/status.ts").then((m) => erase(m.command)),
  "scan-vms": () => import("./commands/scan-vms.ts").then((m) => erase(m.command)),
  "set-pool": () => import("./commands/set-pool.ts").then((m) => erase(m.command)),
  "set-priority": () => import("./commands/set-priority.ts").then((m) => erase(m.command)),
  "set-vm-id": () => import("./commands/set-vm-id.ts").then((m) => erase(m.command)),
  "update-vm": () => import("./commands/update-vm.ts").then((m) => erase(m.command)),
  "sync": () => import("./commands/sync.ts").then((m) => erase(m.command)),
  "adopt": () => import("./commands/adopt.ts").then((m) => erase(m.command)),
  "startup-hook": () => import("./commands/startup-hook.ts").then((m) => erase(m.command)),
  "history": () => import("./commands/history.ts").then((m) => erase(m.command)),
  "export": () => import("./commands/export.ts").then((m) => erase(m.command)),
  "import": () => import("./commands/import.ts").then((m) => erase(m.command)),
  "install-hook": () => import("./commands/install-hook.ts").then((m) => erase(m.command)),
  "uninstall-hook": () => import("./commands/uninstall-hook.ts").then((m) => erase(m.command)),
  "doctor": () => import("./commands/doctor.ts").then((m) => erase(m.command)),
  "completions": () => import("./commands/completions.ts").then((m) => erase(m.command)),
  "settings": () => import("./commands/settings.ts").then((m) => erase(m.command)),
  "schema": () => import("./commands/schema.ts").then((m) => erase(m.command)),
  "pool-enable": () => import("./commands/pool-enable.ts").then((m) => erase(m.command)),
  "pool-status": () => import("./commands/pool-status.ts").then((m) => erase(m.command)),
  "pool-reconcile": () => import("./commands/pool-reconcile.ts").then((m) => erase(m.command)),
};

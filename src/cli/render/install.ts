// install-hook and uninstall-hook: one line per managed file (and the database), and the warning
// when the program the hook runs is not there yet, from the ops' plain results (InstallResult,
// UninstallResult) (issue 20 item 5: ops return a view, render prints it).
import { HOOK_MODE, type InstallResult, MARKER, type UninstallResult } from "../../ops/install.ts";
import type { Paint } from "./style.ts";

export function databaseLine(path: string, existed: boolean, version: number, c: Paint): string {
  return `${c.ok("✓")} database ${path}: ${
    existed ? "already present" : "created"
  } (schema version ${version})`;
}

/** `what`: appended to a hook's line (`; runs /usr/local/bin/vgpu-admin --db=…`). */
export function installedLine(r: InstallResult, what: string, c: Paint): string {
  const mode = `mode 0${r.file.mode.toString(8)}`;
  const path = r.file.path;
  const text = r.action === "installed"
    ? `${path}: installed (${mode}${what})`
    : r.action === "updated"
    ? `${path}: updated, an older version was replaced (${mode}${what})`
    : r.action === "mode-fixed"
    ? `${path}: already installed, ${mode} restored${what}`
    : `${path}: already installed, up to date`;
  return `${c.ok("✓")} ${r.file.kind} ${text}`;
}

/** stderr: the hook lets every VM start unchecked until `bin` is an executable file. */
export function binaryWarning(
  bin: string,
  state: "missing" | "not-executable",
  o: { defaultBinary: boolean; version: string },
): string {
  return `warning: ${bin} ${
    state === "missing" ? "does not exist yet" : "is not an executable file"
  }: until it is, the hook lets every VM start unchecked (${
    o.defaultBinary ? "install the rpm, or " : ""
  }copy the single file vgpu-admin-${o.version}-linux-x64 there, mode 0${HOOK_MODE.toString(8)})`;
}

/** One line per managed file, then the database that stays. */
export function uninstalledLines(
  results: readonly UninstallResult[],
  dbPath: string,
  c: Paint,
): string[] {
  const lines = results.map((r) =>
    r.action === "removed"
      ? `${c.ok("✓")} ${r.kind} ${r.path}: removed`
      : r.action === "absent"
      ? `${c.ok("✓")} ${r.kind} ${r.path}: not installed, nothing to remove`
      : `${
        c.warn("⚠")
      } ${r.kind} ${r.path}: left in place: not written by vgpu-admin (no '${MARKER}' line); remove it by hand if it is not needed`
  );
  lines.push(`The database ${dbPath} is kept (remove it by hand if it is no longer needed).`);
  return lines;
}

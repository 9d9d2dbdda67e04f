// The start hook's log: one line per run, capped (rotated at 1 MiB, one old copy kept), so a
// host that starts VMs for years never fills /var/log with it (design.md §4).
import { fileTarget, FileTargetError } from "../platform/file-target.ts";

export const DEFAULT_HOOK_LOG = "/var/log/vgpu-vm-startup.log";
export const HOOK_LOG_MAX_BYTES = 1024 * 1024;

/** Appends one line; never throws (a log problem must not decide a VM start). */
export function appendHookLog(
  path: string,
  line: string,
  maxBytes = HOOK_LOG_MAX_BYTES,
): string | null {
  try {
    // Never appended through a symbolic link (design.md §7): a link planted at the log's path
    // would make every VM start append to another file as root.
    // Nor into anything but a regular file: opening a FIFO nobody reads would block the VM
    // start until the hook script's bound kills us (issue 18 B7).
    try {
      fileTarget(path, { for: "append" });
    } catch (e) {
      if (!(e instanceof FileTargetError)) throw e;
      if (e.reason === "link") {
        return "it is a symbolic link; vgpu-admin never writes through a link: remove it";
      }
      return e.reason === "kind"
        ? `${e.why}; vgpu-admin writes its log only into a regular file: remove it`
        : e.why;
    }
    try {
      if (Deno.statSync(path).size >= maxBytes) Deno.renameSync(path, `${path}.1`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    Deno.writeTextFileSync(path, line.replace(/\n/g, " ") + "\n", { append: true, mode: 0o640 });
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

// doctor: the files on the host (the vm-pre-start hook, its binary, the log rotation).
import { dirname } from "../../domain/file-errors.ts";
import { VgpuError } from "../../domain/errors.ts";
import { DEFAULT_DB_PATH } from "../../store/open.ts";
import { DEFAULT_HOOK_LOG, HOOK_LOG_MAX_BYTES } from "../hook-log.ts";
import {
  DEFAULT_BINARY,
  executableState,
  hasMarker,
  HOOK_PATH,
  LOGROTATE_PATH,
  MARKER,
  modeOf,
  readHookSettings,
  readIfPresent,
  renderHook,
  renderLogrotate,
  underRoot,
} from "../install.ts";
import { Checks, type DoctorInput, octal, sh } from "./checks.ts";

export function checkHook(
  checks: Checks,
  input: DoctorInput,
  rootFlag: string,
  dbFlag: string,
): void {
  const path = underRoot(input.root, HOOK_PATH);
  const install = `vgpu-admin install-hook${rootFlag}${dbFlag}`;
  let text: string | null;
  try {
    text = readIfPresent(path);
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    checks.add("hook", "failed", e.message, "run doctor as root");
    checks.skip(["hook-binary"], "the hook cannot be read");
    return;
  }
  if (text === null) {
    checks.add("hook", "failed", `${path} is not installed: no VM start is checked`, install);
    checks.skip(["hook-binary"], "no hook installed");
    return;
  }
  if (!hasMarker(text)) {
    checks.add(
      "hook",
      "failed",
      `${path} was not written by vgpu-admin (it has no '${MARKER}' line)`,
      `move it out of ${dirname(path)}/, then ${install}`,
    );
    checks.skip(["hook-binary"], "the hook is not ours");
    return;
  }
  const named = readHookSettings(text);
  if (named.binary === null) {
    checks.add(
      "hook",
      "failed",
      `${path}: its VGPU_ADMIN line is missing or not a plain path`,
      install,
    );
    checks.skip(["hook-binary"], "the hook names no binary");
    return;
  }
  const binFlag = named.binary === DEFAULT_BINARY ? "" : ` --binary=${sh(named.binary)}`;
  const reinstall = `vgpu-admin install-hook${binFlag}${rootFlag}${
    named.dbPath === null ? "" : ` --db=${sh(named.dbPath)}`
  }`;
  const mode = modeOf(path) ?? 0;
  const runs = `runs ${named.binary}${named.dbPath === null ? "" : ` --db=${named.dbPath}`}`;
  if (text !== renderHook(named.binary, named.dbPath)) {
    checks.add(
      "hook",
      "failed",
      `${path} differs from what this vgpu-admin installs (an older version, or edited); it ${runs}`,
      reinstall,
    );
  } else if ((mode & 0o111) === 0) {
    checks.add(
      "hook",
      "failed",
      `${path} is not executable (mode ${octal(mode & 0o777)}): xenopsd cannot run it`,
      `chmod 0755 ${sh(path)}`,
    );
  } else {
    const hookDb = named.dbPath ?? DEFAULT_DB_PATH;
    const same = hookDb === input.dbPath || underRoot(input.root, hookDb) === input.dbPath;
    if (same) checks.add("hook", "ok", `${path} is installed, executable and current; it ${runs}`);
    else {
      checks.add(
        "hook",
        "warning",
        `${path} uses database ${hookDb}, not ${input.dbPath} that this doctor checked`,
        `vgpu-admin doctor${rootFlag} --db=${sh(hookDb)}, or ${install}`,
      );
    }
  }
  const bin = underRoot(input.root, named.binary);
  const state = executableState(bin, input.root);
  if (state === "ok") checks.add("hook-binary", "ok", `${bin} exists and is executable`);
  else {
    checks.add(
      "hook-binary",
      "failed",
      `${bin} ${
        state === "missing" ? "does not exist" : "is not an executable file"
      }: the hook lets every VM start unchecked`,
      `install vgpu-admin at ${bin} (mode 0755), or point the hook at it: vgpu-admin install-hook --binary=PATH${rootFlag}`,
    );
  }
}

export function checkLogrotate(
  checks: Checks,
  root: string | null,
  rootFlag: string,
  dbFlag: string,
) {
  const path = underRoot(root, LOGROTATE_PATH);
  const install = `vgpu-admin install-hook${rootFlag}${dbFlag}`;
  let text: string | null;
  try {
    text = readIfPresent(path);
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    checks.add("logrotate", "failed", e.message, "run doctor as root");
    return;
  }
  const cap = `${DEFAULT_HOOK_LOG} (vgpu-admin also caps it at ${
    HOOK_LOG_MAX_BYTES / 1048576
  } MiB)`;
  if (text === null) {
    checks.add("logrotate", "failed", `${path} is not installed`, install);
  } else if (!hasMarker(text)) {
    checks.add(
      "logrotate",
      "warning",
      `${path} was not written by vgpu-admin; it is left as it is`,
      `check that it rotates ${DEFAULT_HOOK_LOG}`,
    );
  } else if (text !== renderLogrotate()) {
    checks.add(
      "logrotate",
      "warning",
      `${path} differs from what this vgpu-admin installs`,
      install,
    );
  } else checks.add("logrotate", "ok", `${path} rotates ${cap}`);
}

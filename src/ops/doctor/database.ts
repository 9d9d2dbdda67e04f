// doctor: the database's checks (schema, permissions, settings, interrupted operations).
import { dirname } from "../../domain/file-errors.ts";
import { VgpuError } from "../../domain/errors.ts";
import { resolveSettings, SETTING_DEFS, type Settings } from "../../domain/settings.ts";
import { SCHEMA_VERSION } from "../../store/migrations.ts";
import { Store } from "../../store/store.ts";
import { modeOf } from "../install.ts";
import type { VmLocks } from "../../locks/vm-lock.ts";
import { abandonedEntries, interruptedLine } from "../vm-claim.ts";
import { type CheckItem, Checks, octal, plural, sh } from "./checks.ts";

export async function checkSchema(checks: Checks, store: Store, dbFlag: string): Promise<boolean> {
  const version = store.schemaVersion();
  if (version > SCHEMA_VERSION) {
    checks.add(
      "schema",
      "failed",
      `schema version ${version} is newer than this vgpu-admin understands (${SCHEMA_VERSION})`,
      "install a newer vgpu-admin",
    );
    return false;
  }
  if (version < SCHEMA_VERSION) {
    checks.add(
      "schema",
      "failed",
      `schema version ${version}, this vgpu-admin uses ${SCHEMA_VERSION}`,
      `vgpu-admin list-pools${dbFlag} (any command migrates it forward, after a backup copy)`,
    );
    return false;
  }
  const problem = await store.schemaProblem();
  if (problem !== null) {
    checks.add(
      "schema",
      "failed",
      `schema version ${version}, but ${problem}`,
      "restore the database from a backup, or move it aside and re-import an export",
    );
    return false;
  }
  checks.add(
    "schema",
    "ok",
    `version ${version} (current); every table, column and index is present`,
  );
  return true;
}

export function checkPermissions(checks: Checks, dbPath: string): void {
  const dir = dirname(dbPath);
  const fileMode = safeMode(dbPath);
  const dirMode = safeMode(dir);
  if (fileMode === null) {
    checks.add("permissions", "skipped", `not checked: ${dbPath} does not exist`);
    return;
  }
  const wrong: string[] = [];
  const fixes: string[] = [];
  if ((fileMode & 0o777) !== 0o600) {
    wrong.push(`${dbPath} has mode ${octal(fileMode & 0o777)} (0600 expected)`);
    fixes.push(`chmod 0600 ${sh(dbPath)}`);
  }
  // The directory is created 0755; stricter (0700, 0750) is as good: only the owner must have
  // rwx, and nobody else may write (they could replace the database).
  const dirBits = (dirMode ?? 0o755) & 0o777;
  if ((dirBits & 0o700) !== 0o700 || (dirBits & 0o022) !== 0) {
    wrong.push(
      `${dir} has mode ${
        octal(dirBits)
      } (0755 or stricter expected: owner rwx, no write for others)`,
    );
    fixes.push(`chmod u+rwx,go-w ${sh(dir)}`);
  }
  if (wrong.length === 0) {
    checks.add("permissions", "ok", `${dbPath} is 0600, ${dir} is ${octal(dirBits)}`);
  } else {
    checks.add("permissions", "failed", wrong.join("; "), fixes.join(" && "));
  }
}

export function safeMode(path: string): number | null {
  try {
    return modeOf(path);
  } catch {
    return null;
  }
}

export function checkSettings(checks: Checks, store: Store): Settings {
  let stored: Map<string, string>;
  try {
    stored = store.listSettings();
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    checks.add("settings", "skipped", `not checked: ${e.message}`);
    return resolveSettings(new Map());
  }
  const settings = resolveSettings(stored);
  const items: CheckItem[] = [];
  for (const def of SETTING_DEFS) {
    const raw = stored.get(def.key);
    if (raw === undefined) continue;
    try {
      def.parse(raw);
    } catch {
      items.push({
        vmUuid: null,
        message: `stored ${def.key} ${JSON.stringify(raw)} is not valid; the default ${
          JSON.stringify(def.default)
        } is used`,
        fix: `vgpu-admin settings ${def.key} --unset`,
      });
    }
  }
  const isDefault = (key: string) => stored.get(key) === undefined ? " (default)" : "";
  const summary = `platform key ${settings.platformKey}${isDefault("platform-key")}; hook-strict ${
    settings.hookStrict ? "on" : "off"
  }; xe-timeout ${settings.xeTimeoutS} s; shutdown-timeout ${settings.shutdownTimeoutS} s`;
  if (items.length === 0) checks.add("settings", "ok", summary);
  else {
    checks.add(
      "settings",
      "warning",
      `${summary}; ${items.length} stored value${items.length === 1 ? " is" : "s are"} not valid`,
      items.length === 1 ? items[0].fix : "vgpu-admin settings KEY --unset (see below)",
      items,
    );
  }
  return settings;
}

/** Reconfigurations whose process died mid-way (design.md §5 step 10). */
export async function checkInterrupted(
  checks: Checks,
  store: Store,
  locksFor: () => Promise<VmLocks>,
  dbFlag: string,
): Promise<void> {
  let open;
  try {
    open = abandonedEntries(store, await locksFor());
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    checks.add(
      "interrupted",
      "failed",
      e.message,
      "vgpu-admin doctor shows the damage; restore a backup",
    );
    return;
  }
  if (open.length === 0) {
    checks.add("interrupted", "ok", "no interrupted reconfiguration");
    return;
  }
  checks.add(
    "interrupted",
    "failed",
    `${plural(open.length, "reconfiguration")} interrupted mid-way: ${
      open.length === 1 ? "its VM" : "their VMs"
    } may be stopped or half-changed`,
    `vgpu-admin recover${dbFlag}`,
    open.map((e) => ({
      vmUuid: e.vmUuid,
      message: interruptedLine(e),
      fix: `vgpu-admin recover${dbFlag} --vm-uuid=${e.vmUuid}`,
    })),
  );
}

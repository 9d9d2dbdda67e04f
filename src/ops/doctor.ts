// doctor: every check of an installation, one result each, with the fix. It changes nothing:
// the database is opened read-only and as it is (no creation, no migration), xe is only read.
import { humanTime } from "../domain/time.ts";
import { dirname } from "../domain/file-errors.ts";
import type { DriftItem } from "../domain/drift.ts";
import { VgpuError } from "../domain/errors.ts";
import { resolveSettings, SETTING_DEFS, type Settings } from "../domain/settings.ts";
import { SCHEMA_VERSION } from "../store/migrations.ts";
import { DEFAULT_DB_PATH } from "../store/open.ts";
import { type AuditContext, Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import { DEFAULT_HOOK_LOG, HOOK_LOG_MAX_BYTES } from "./hook-log.ts";
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
} from "./install.ts";
import { createVmLocks } from "../store/vm-lock.ts";
import { abandonedEntries, interruptedLine } from "./vm-claim.ts";
import { compareQemu } from "./qemu-cmdline.ts";
import { hostError, type HostView, scan, type ScanView } from "./scan.ts";
import { countsAsDrift } from "./sync.ts";

export type CheckId =
  | "database"
  | "schema"
  | "integrity"
  | "permissions"
  | "settings"
  | "interrupted"
  | "hook"
  | "hook-binary"
  | "logrotate"
  | "xe"
  | "drift"
  | "vm-id-collisions"
  | "strict-mode"
  | "stale-runs"
  | "qemu";

/** ok and warning pass; failed makes doctor exit 1; skipped: an earlier failure prevents it. */
export type CheckStatus = "ok" | "warning" | "failed" | "skipped";

/** One finding of a check, usually about one VM. */
export interface CheckItem {
  vmUuid: string | null;
  message: string;
  fix: string | null;
}

export interface Check {
  id: CheckId;
  status: CheckStatus;
  /** One line. */
  message: string;
  /** The command or action that fixes it; null when nothing needs doing. */
  fix: string | null;
  items: CheckItem[];
}

export interface DoctorReport {
  root: string | null;
  dbPath: string;
  checks: Check[];
  xeCalls: number;
}

export interface DoctorInput {
  /** --root, or null for /. */
  root: string | null;
  /** The database to check (already under the root when it is the default one). */
  dbPath: string;
  /** True when --db/VGPU_DB chose the database: fixes then carry --db. */
  dbExplicit: boolean;
  /** An xe client with these settings (defaults when the database cannot give them). */
  xeFor(settings: Settings): Xe;
  localHostUuid: string | null;
  /** Where /proc is (VGPU_PROC_ROOT in tests). */
  procRoot: string;
  audit: AuditContext;
  now: () => Date;
}

// Characters no POSIX shell treats specially inside a word: fixes stay copy-pasteable.
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;
function sh(s: string): string {
  return SHELL_SAFE.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}

/** The advice part of a one-line error ("…; do this"), else null. */
function adviceOf(message: string): { message: string; fix: string | null } {
  const i = message.lastIndexOf("; ");
  return i < 0
    ? { message, fix: null }
    : { message: message.slice(0, i), fix: message.slice(i + 2) };
}

class Checks {
  readonly list: Check[] = [];
  add(
    id: CheckId,
    status: CheckStatus,
    message: string,
    fix: string | null = null,
    items: CheckItem[] = [],
  ): Check {
    const c: Check = { id, status, message, fix, items };
    this.list.push(c);
    return c;
  }
  skip(ids: CheckId[], why: string): void {
    for (const id of ids) this.add(id, "skipped", `not checked: ${why}`);
  }
}

const HOST_CHECKS: CheckId[] = ["drift", "vm-id-collisions", "strict-mode", "stale-runs", "qemu"];

/** Runs every check; never throws for what it checks (each problem becomes a failed check). */
export async function runDoctor(input: DoctorInput): Promise<DoctorReport> {
  const { root, dbPath } = input;
  const checks = new Checks();
  const rootFlag = root === null ? "" : ` --root=${sh(root)}`;
  const dbFlag = input.dbExplicit ? ` --db=${sh(dbPath)}` : "";

  // ---- the database ----
  let store: Store | null = null;
  let schemaOk = false;
  let rowsOk = true;
  let settings: Settings = resolveSettings(new Map());
  try {
    if (modeOf(dbPath) === null) {
      checks.add(
        "database",
        "failed",
        `${dbPath} does not exist`,
        `vgpu-admin install-hook${rootFlag}${dbFlag} (creates it)`,
      );
    } else {
      store = await Store.inspect(dbPath, input.audit, input.now);
      checks.add("database", "ok", `${dbPath} is readable`);
    }
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    const a = adviceOf(e.message);
    checks.add("database", "failed", a.message, a.fix);
  }
  try {
    if (store === null) {
      checks.skip(["schema", "integrity"], "the database cannot be read");
    } else {
      schemaOk = await checkSchema(checks, store, dbFlag);
      const problems = store.integrityCheck();
      const damaged = problems.length === 0 && schemaOk ? store.damagedRows() : [];
      rowsOk = damaged.length === 0;
      if (damaged.length > 0) {
        // Rows every reader refuses ("database damaged: …"): each listed, with the way out.
        checks.add(
          "integrity",
          "failed",
          `PRAGMA integrity_check: ok, but ${plural(damaged.length, "row")} cannot be used: ${
            damaged.slice(0, 3).map((d) => `${d.table} row ${d.key}: ${d.what}`).join("; ")
          }${damaged.length > 3 ? ` (and ${damaged.length - 3} more)` : ""}`,
          "correct or delete these rows by hand (sqlite3), restore a backup, or re-import an export",
          damaged.map((d) => ({
            vmUuid: d.table === "vms" && !d.key.startsWith("rowid") ? d.key : null,
            message: `${d.table} row ${d.key}: ${d.what}`,
            fix: null,
          })),
        );
      } else if (problems.length === 0) checks.add("integrity", "ok", "PRAGMA integrity_check: ok");
      else {
        checks.add(
          "integrity",
          "failed",
          `PRAGMA integrity_check: ${problems.slice(0, 3).join("; ")}${
            problems.length > 3 ? ` (and ${problems.length - 3} more)` : ""
          }`,
          "restore the database from a backup, or move it aside and re-import an export",
        );
      }
    }
    checkPermissions(checks, dbPath);
    if (store !== null && !rowsOk) checks.skip(["settings"], "the database has damaged rows");
    else if (store !== null) settings = checkSettings(checks, store);
    else checks.skip(["settings"], "the database cannot be read");
    if (store !== null && schemaOk) checkInterrupted(checks, store, dbPath, dbFlag);
    else checks.skip(["interrupted"], "the database cannot be read");

    // ---- files on the host ----
    checkHook(checks, input, rootFlag, dbFlag);
    checkLogrotate(checks, root, rootFlag, dbFlag);

    // ---- xe and the VMs ----
    let xe: Xe | null = null;
    const done = () => ({ root, dbPath, checks: checks.list, xeCalls: xe?.calls ?? 0 });
    try {
      xe = input.xeFor(settings);
      const hosts = await xe.hostList();
      checks.add(
        "xe",
        "ok",
        `reachable: xe host-list lists ${plural(hosts.length, "host")}`,
      );
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      checks.add(
        "xe",
        "failed",
        e.message,
        "run doctor on the XCP-ng dom0, where 'xe host-list' works (VGPU_XE names another xe)",
      );
      checks.skip(HOST_CHECKS, "xe is not reachable");
      return done();
    }
    if (store === null || !schemaOk || !rowsOk) {
      checks.skip(HOST_CHECKS, "the database needs attention first");
      return done();
    }
    const client = xe;
    const view = await scan({
      store,
      xe: () => Promise.resolve(client),
      offline: false,
      localHostUuid: input.localHostUuid,
    });
    if (view.host.kind !== "read") {
      checks.add("drift", "failed", `the host's VMs could not be read: ${hostError(view)}`);
      checks.skip(HOST_CHECKS.slice(1), "the host's VMs could not be read");
      return done();
    }
    const drift = checkDrift(checks, view, view.host);
    checkStrict(checks, settings, drift);
    checkStaleRuns(checks, view);
    await checkQemu(checks, view, client, input.procRoot);
    return done();
  } finally {
    store?.close();
  }
}

async function checkSchema(checks: Checks, store: Store, dbFlag: string): Promise<boolean> {
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

function checkPermissions(checks: Checks, dbPath: string): void {
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

function safeMode(path: string): number | null {
  try {
    return modeOf(path);
  } catch {
    return null;
  }
}

function checkSettings(checks: Checks, store: Store): Settings {
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

function checkHook(checks: Checks, input: DoctorInput, rootFlag: string, dbFlag: string): void {
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
  const state = executableState(bin);
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

function checkLogrotate(checks: Checks, root: string | null, rootFlag: string, dbFlag: string) {
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

function vmName(view: ScanView, uuid: string): string {
  const s = view.host.kind === "read" ? view.host.drift.byUuid.get(uuid) : undefined;
  const name = s?.registered?.vmName ?? s?.host?.nameLabel ?? null;
  return name === null || name === "" ? `VM ${uuid}` : `VM ${uuid} (${name})`;
}

function itemOf(view: ScanView, d: DriftItem): CheckItem {
  return { vmUuid: d.vmUuid, message: `${vmName(view, d.vmUuid)}: ${d.detail}`, fix: d.fix };
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** drift and vm-id-collisions, as `sync --check` counts them; returns the number of items. */
function checkDrift(checks: Checks, view: ScanView, host: HostView): number {
  const all = host.drift.items.filter(countsAsDrift);
  const drift = all.filter((d) => d.kind !== "vmid-collision");
  const collisions = all.filter((d) => d.kind === "vmid-collision");
  if (drift.length === 0) {
    checks.add(
      "drift",
      "ok",
      `database and VM args agree (${plural(view.registered.length, "registered VM")})`,
    );
  } else {
    const vms = new Set(drift.map((d) => d.vmUuid)).size;
    checks.add(
      "drift",
      "failed",
      `${plural(drift.length, "problem")} on ${plural(vms, "VM")}`,
      "vgpu-admin sync (each line below gives its own fix)",
      drift.map((d) => itemOf(view, d)),
    );
  }
  if (collisions.length === 0) {
    checks.add("vm-id-collisions", "ok", "no vm_id is carried by two VMs");
  } else {
    const ids = new Set(collisions.map((d) => d.vmId)).size;
    checks.add(
      "vm-id-collisions",
      "failed",
      `${plural(ids, "vm_id")} carried by more than one VM (clones copy platform args)`,
      "give each VM its own vm_id (each line below gives its fix)",
      collisions.map((d) => itemOf(view, d)),
    );
  }
  return all.length;
}

function checkStrict(checks: Checks, settings: Settings, drift: number): void {
  if (settings.hookStrict) {
    checks.add(
      "strict-mode",
      "ok",
      "hook-strict is on: a start with stale vGPU args or a colliding vm_id is refused",
    );
  } else if (drift > 0) {
    checks.add(
      "strict-mode",
      "warning",
      `hook-strict is off while ${
        drift === 1 ? "1 drift problem exists" : `${drift} drift problems exist`
      }: such a VM starts with stale vGPU args`,
      "vgpu-admin sync; to refuse such starts from now on: vgpu-admin settings hook-strict on",
    );
  } else {
    checks.add("strict-mode", "ok", "hook-strict is off (the default); nothing drifts now");
  }
}

/** Reconfigurations whose process died mid-way (design.md §5 step 10). */
function checkInterrupted(checks: Checks, store: Store, dbPath: string, dbFlag: string): void {
  let open;
  try {
    const locks = createVmLocks(dbPath, {
      command: "doctor",
      pid: Deno.pid,
      now: () => new Date(),
    });
    open = abandonedEntries(store, locks);
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

function checkStaleRuns(checks: Checks, view: ScanView): void {
  const stale = [...view.staleRuns.values()];
  if (stale.length === 0) {
    checks.add("stale-runs", "ok", "no running VM has stale vGPU args");
    return;
  }
  checks.add(
    "stale-runs",
    "warning",
    `${plural(stale.length, "VM")} run${stale.length === 1 ? "s" : ""} with stale vGPU args`,
    "restart each VM listed below to apply",
    stale.map((r) => ({
      vmUuid: r.vmUuid,
      message: `${vmName(view, r.vmUuid)}: running with stale vGPU args since ${
        humanTime(r.since)
      } (${r.reason})`,
      fix: "restart the VM to apply",
    })),
  );
}

async function checkQemu(
  checks: Checks,
  view: ScanView,
  xe: Xe,
  procRoot: string,
): Promise<void> {
  const report = await compareQemu(view, () => Promise.resolve(xe), procRoot);
  if (report.error !== null) {
    checks.add(
      "qemu",
      "warning",
      `the QEMU command lines could not be compared: ${report.error}`,
      report.errorFix ?? "run doctor on the XCP-ng dom0",
    );
    return;
  }
  const views = [...report.vms.values()];
  const compared = views.filter((q) => q.status === "matches" || q.status === "differs");
  const problems = views.filter((q) => q.status === "differs" || q.status === "not-found");
  if (problems.length === 0) {
    checks.add(
      "qemu",
      "ok",
      compared.length === 0
        ? "no running VM on this host carries a vgpu-stub to compare"
        : `${plural(compared.length, "running VM")}: QEMU runs with the vgpu-stub xapi holds`,
    );
    return;
  }
  checks.add(
    "qemu",
    "warning",
    `${plural(problems.length, "running VM")}: QEMU does not run with what xapi holds`,
    "restart each VM listed below (after 'vgpu-admin sync' where it says so)",
    problems.map((q) => {
      const runs = q.stubs.length === 0
        ? "no vgpu-stub device"
        : q.stubs.map((s) => s.raw).join("  ");
      const message = q.status === "not-found"
        ? `${vmName(view, q.vmUuid)}: ${q.detail}`
        : `${vmName(view, q.vmUuid)}: QEMU (pid ${q.pid}) runs ${runs}; ${q.detail}`;
      return { vmUuid: q.vmUuid, message, fix: q.fix };
    }),
  );
}

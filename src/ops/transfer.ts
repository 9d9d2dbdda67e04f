// export and import: the whole configuration as one JSON file (domain/config-file.ts), and
// loading one back, all or nothing, then writing the imported VMs' args to the host as
// register-vm and remove-vm do. The host part comes after the commit and is never undone: the
// import is one transaction for many VMs, so a VM whose args could not be written is reported
// and `vgpu-admin sync` writes it later (the database is the desired state).
import { describeFileError, dirname } from "../domain/file-errors.ts";
import { replaceFile } from "./file-write.ts";
import { fileTarget, FileTargetError } from "../platform/file-target.ts";
import {
  buildExportFile,
  type ExportFile,
  type FileProblem,
  type ImportConfig,
  type ImportPool,
  type ImportVm,
} from "../domain/config-file.ts";
import { mergeDeviceArgs, parseDeviceArgs, removeDeviceArgs } from "../domain/device-args.ts";
import { ConflictError, OperationFailedError, VgpuError } from "../domain/errors.ts";
import {
  type Pool,
  type PowerState,
  priorityName,
  type VgpuConfig,
  type Vm,
} from "../domain/types.ts";
import { conflictMessage, type Store, type StoredConfiguration } from "../store/store.ts";
import { poolDisabledMessage } from "./pools.ts";
import { setArgsVerified } from "./xe-write.ts";
import type { Xe } from "../xe/client.ts";

// ---- export ----------------------------------------------------------------------------------

export function exportConfiguration(store: Store, now: Date): ExportFile {
  const c = store.readConfiguration();
  return buildExportFile({
    schemaVersion: c.schemaVersion,
    exportedAt: now,
    pools: c.pools,
    vms: c.vms,
    settings: c.settings,
  });
}

/**
 * Writes `text` to `path` atomically: a new 0600 file next to it, synced, then renamed over it.
 * An existing file is replaced (its old mode and owner are not kept); a directory, a special
 * file or a symbolic link (to anything) is refused, never followed. Returns the absolute path
 * written.
 */
export function writeFileAtomic(path: string, text: string): string {
  const target = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const fail = (why: string) =>
    new OperationFailedError(`cannot write ${target}: ${why}; nothing was written`);
  try {
    fileTarget(target, { for: "write" });
    replaceFile(target, text, { mode: 0o600, tmpDir: dirname(target) });
  } catch (e) {
    if (e instanceof FileTargetError) {
      if (e.reason === "link") throw fail(`${e.why}: remove the link or give the real path`);
      throw fail(e.why);
    }
    throw fail(describeFileError(e));
  }
  return target;
}

/** `path` with its directory resolved (links, `..`), the last part as given; null if unresolvable. */
function resolvedPath(path: string): string | null {
  const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const i = abs.lastIndexOf("/");
  try {
    const dir = Deno.realPathSync(i === 0 ? "/" : abs.slice(0, i));
    return `${dir === "/" ? "" : dir}/${abs.slice(i + 1)}`;
  } catch {
    return null;
  }
}

/**
 * What `output` is among the database's own files, in words ("the database itself", "its
 * write-ahead log"…), or null: replacing one of them (even one not there now: SQLite would take
 * an export named `-wal` for its log) loses data. Compared by the resolved directory, so another
 * spelling of the path or a link to the directory is caught too.
 */
export function databaseFileOf(output: string, dbPath: string): string | null {
  let out: string | null;
  try {
    out = Deno.realPathSync(output); // an existing file: a link to the database is the database
  } catch {
    out = resolvedPath(output);
  }
  let db: string | null;
  try {
    db = Deno.realPathSync(dbPath);
  } catch {
    db = resolvedPath(dbPath);
  }
  if (out === null || db === null) return null;
  const own: [string, string][] = [
    ["", "the database itself"],
    ["-wal", "the database's write-ahead log"],
    ["-shm", "the database's shared-memory index"],
    ["-journal", "the database's rollback journal"],
    [".locks", "the database's VM lock directory"],
  ];
  for (const [suffix, words] of own) if (out === db + suffix) return words;
  if (out.startsWith(`${db}.locks/`)) return "a VM lock file of the database";
  return null;
}

// ---- import: the plan --------------------------------------------------------------------------

/** merge: add and update, keep what the file does not name; replace: make the database the file. */
export type ImportMode = "merge" | "replace";

export interface SettingChange {
  key: string;
  /** null: not set (the default applies). */
  before: string | null;
  after: string | null;
}

export interface ImportPlan {
  mode: ImportMode;
  added: ImportVm[];
  /** Registered VMs the file gives another name (merge) or configuration (replace). */
  changed: { before: Vm; after: ImportVm }[];
  /** --replace: registered VMs the file does not have. */
  removed: Vm[];
  unchangedVms: number;
  pools: { before: Pool; after: ImportPool }[];
  unchangedPools: number;
  settings: SettingChange[];
  unchangedSettings: number;
  /** Conflicts with the database (merge mode): the import is refused when there is any. */
  conflicts: FileProblem[];
}

/** The configuration as stored, read without a transaction of its own (usable inside one). */
export function currentConfiguration(store: Store): StoredConfiguration {
  return {
    schemaVersion: store.schemaVersion(),
    pools: store.listPools(),
    vms: store.listVms(),
    settings: store.listSettings(),
  };
}

const configText = (c: VgpuConfig) =>
  `vGPU pool ${c.pool}, priority ${priorityName(c.priority)}, VM ID ${c.vmId}`;

const sameVgpu = (a: VgpuConfig, b: VgpuConfig) =>
  a.pool === b.pool && a.priority === b.priority && a.vmId === b.vmId;

/** What importing `config` into `current` changes; pure. */
export function planImport(
  current: StoredConfiguration,
  config: ImportConfig,
  mode: ImportMode,
): ImportPlan {
  const plan: ImportPlan = {
    mode,
    added: [],
    changed: [],
    removed: [],
    unchangedVms: 0,
    pools: [],
    unchangedPools: 0,
    settings: [],
    unchangedSettings: 0,
    conflicts: [],
  };
  // a pool disabled now and still disabled after the import takes no new VMs (an export of a
  // disabled pool still restores into a fresh database, whose pools start enabled)
  const closed = new Set(
    current.pools.filter((p) =>
      !p.enabled && config.pools.find((f) => f.poolId === p.poolId)?.enabled !== true
    ).map((p) => p.poolId),
  );
  const refuseClosed = (f: ImportVm): boolean => {
    if (!closed.has(f.pool)) return false;
    plan.conflicts.push({
      path: `${f.path}.pool_id`,
      message: poolDisabledMessage(current.pools.find((p) => p.poolId === f.pool)!),
    });
    return true;
  };
  const byUuid = new Map(current.vms.map((v) => [v.vmUuid, v]));
  const byVmId = new Map(current.vms.map((v) => [v.vmId, v]));
  const inFile = new Set<string>();
  for (const f of config.vms) {
    inFile.add(f.vmUuid);
    const db = byUuid.get(f.vmUuid);
    if (db !== undefined) {
      if (sameVgpu(db, f) && db.vmName === f.vmName) plan.unchangedVms++;
      else if (db.pool !== f.pool && refuseClosed(f)) continue;
      else if (mode === "replace" || sameVgpu(db, f)) plan.changed.push({ before: db, after: f });
      else {
        plan.conflicts.push({
          path: f.path,
          message: `VM ${f.vmUuid} is registered with ${configText(db)}, the file has ${
            configText(f)
          }; import with --replace to take the file's, or change the file`,
        });
      }
      continue;
    }
    const holder = byVmId.get(f.vmId);
    if (mode === "merge" && holder !== undefined) {
      plan.conflicts.push({
        path: `${f.path}.vm_id`,
        message: `${
          conflictMessage(f.vmId, holder)
        }; give VM ${f.vmUuid} another vm_id in the file, or import with --replace`,
      });
      continue;
    }
    if (refuseClosed(f)) continue;
    plan.added.push(f);
  }
  if (mode === "replace") plan.removed = current.vms.filter((v) => !inFile.has(v.vmUuid));

  const pools = new Map(current.pools.map((p) => [p.poolId, p]));
  for (const f of config.pools) {
    const db = pools.get(f.poolId);
    if (db === undefined) continue; // both pools exist in every checked database
    if (db.name === f.name && db.description === f.description && db.enabled === f.enabled) {
      plan.unchangedPools++;
    } else plan.pools.push({ before: db, after: f });
  }

  const fileKeys = new Set<string>();
  for (const s of config.settings) {
    fileKeys.add(s.key);
    const before = current.settings.get(s.key) ?? null;
    if (before === s.value) plan.unchangedSettings++;
    else plan.settings.push({ key: s.key, before, after: s.value });
  }
  if (mode === "replace") {
    for (const [key, before] of current.settings) {
      if (!fileKeys.has(key)) plan.settings.push({ key, before, after: null });
    }
  }
  return plan;
}

export function planChangesNothing(p: ImportPlan): boolean {
  return p.added.length + p.changed.length + p.removed.length + p.pools.length +
      p.settings.length === 0;
}

/** A plan's identity: equal keys mean the database was the same when each was made. */
function planKey(p: ImportPlan): string {
  const vm = (v: Vm) => [v.vmUuid, v.vmName, v.pool, v.priority, v.vmId];
  return JSON.stringify([
    p.mode,
    p.added.map((a) => a.vmUuid),
    p.changed.map((c) => vm(c.before)),
    p.removed.map(vm),
    p.unchangedVms,
    p.pools.map((x) => [x.before.poolId, x.before.name, x.before.description, x.before.enabled]),
    p.settings,
    p.conflicts.length,
  ]);
}

// ---- import: applying it -------------------------------------------------------------------

/**
 * Applies `plan` in one immediate transaction. Inside the write lock the plan is made again:
 * when the database changed since `plan` was shown, nothing is written (ConflictError).
 */
export function applyImport(store: Store, config: ImportConfig, plan: ImportPlan): ImportPlan {
  let applied = plan;
  store.applyImport(() => {
    applied = planImport(currentConfiguration(store), config, plan.mode);
    if (applied.conflicts.length > 0 || planKey(applied) !== planKey(plan)) {
      throw new ConflictError(
        "the database changed while the import waited for confirmation; nothing was changed: run the import again",
      );
    }
    return {
      removeVms: applied.removed,
      changeVms: applied.changed,
      addVms: applied.added,
      pools: applied.pools,
      settings: applied.settings,
    };
  });
  return applied;
}

/**
 * `<db>.bak-import-<UTC time>`: the name the backup before `import --replace` starts from
 * (Store.backupTo adds `-2`, `-3`… when another run took it in the same second).
 */
export function importBackupPath(dbPath: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${dbPath}.bak-import-${stamp}`;
}

// ---- import: the host --------------------------------------------------------------------------

/** `vms[12]` → 12: the file order. */
const fileIndex = (path: string) => Number(path.slice(path.indexOf("[") + 1, -1));

export interface HostWrite {
  vmUuid: string;
  vmName: string | null;
  /** set: write our device (added/changed VM); remove: take it out (removed VM). */
  action: "set" | "remove";
  /**
   * wrote: args written; in-sync: nothing to write; not-on-host: the host has no such VM;
   * failed: xe failed (`error`).
   */
  result: "wrote" | "in-sync" | "not-on-host" | "failed";
  /** The args written (null: the platform key was removed). */
  argsAfter: string | null;
  powerState: PowerState | null;
  error: string | null;
}

export interface HostReport {
  /** Set when the host could not be read at all: nothing was written. */
  hostError: string | null;
  writes: HostWrite[];
}

/**
 * After the commit: one `vm-list` for all VMs, then one `vm-param-set` per imported VM whose
 * args differ (running VMs get a stale-run mark: the change reaches them at their next start),
 * and our device taken out of each removed VM's args. One VM's failure does not stop the others.
 */
export async function writeImportedArgs(
  store: Store,
  xe: () => Promise<Xe>,
  plan: ImportPlan,
  progress: (line: string) => void,
  only: "set" | "remove" | "all" = "all",
): Promise<HostReport> {
  const targets: { vm: Vm | ImportVm; action: "set" | "remove" }[] = [
    ...(only === "remove" ? [] : [...plan.changed.map((c) => c.after), ...plan.added])
      .sort((a, b) => fileIndex(a.path) - fileIndex(b.path))
      .map((vm) => ({ vm, action: "set" as const })),
    ...(only === "set" ? [] : plan.removed).map((vm) => ({ vm, action: "remove" as const })),
  ];
  if (targets.length === 0) return { hostError: null, writes: [] };
  let onHost;
  let client: Xe;
  try {
    client = await xe();
    onHost = new Map((await client.vmList()).map((h) => [h.uuid, h]));
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    return { hostError: e.message, writes: [] };
  }
  const writes: HostWrite[] = [];
  for (const [i, { vm, action }] of targets.entries()) {
    const base = { vmUuid: vm.vmUuid, vmName: vm.vmName, action, error: null };
    const host = onHost.get(vm.vmUuid);
    if (host === undefined) {
      writes.push({ ...base, result: "not-on-host", argsAfter: null, powerState: null });
      continue;
    }
    const before = host.deviceModelArgs;
    const after = action === "set"
      ? mergeDeviceArgs(before, vm)
      : parseDeviceArgs(before).stubs.length > 0
      ? removeDeviceArgs(before)
      : before;
    const w = { ...base, argsAfter: after, powerState: host.powerState };
    if (after === before) {
      writes.push({ ...w, result: "in-sync" });
      continue;
    }
    progress(`[${i + 1}/${targets.length}] VM ${vm.vmUuid}`);
    try {
      // one read per VM would double a 10,000-VM import's xe calls: read back on failure only
      await setArgsVerified(client, vm.vmUuid, after, null, { readBack: "on-failure" });
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      writes.push({ ...w, result: "failed", error: e.message });
      continue;
    }
    writes.push({ ...w, result: "wrote" });
    if (action === "set" && host.powerState !== "halted") {
      store.markStaleRun(vm.vmUuid, "args rewritten by import");
    }
  }
  return { hostError: null, writes };
}

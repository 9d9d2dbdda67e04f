// doctor: every check of an installation, one result each, with the fix. It changes nothing:
// the database is opened read-only and as it is (no creation, no migration), xe is only read.
import { VgpuError } from "../domain/errors.ts";
import { resolveSettings, type Settings } from "../domain/settings.ts";
import { readPoolState } from "../store/pool-cache.ts";
import { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import { modeOf } from "./install.ts";
import { hostError, scan } from "./scan.ts";
import {
  adviceOf,
  type CheckId,
  Checks,
  type DoctorInput,
  type DoctorReport,
  plural,
  sh,
} from "./doctor/checks.ts";
import {
  checkInterrupted,
  checkPermissions,
  checkSchema,
  checkSettings,
} from "./doctor/database.ts";
import { checkHook, checkLogrotate } from "./doctor/files.ts";
import { addOtherHooks, otherHookItems } from "./hook-check.ts";
import { checkDrift, checkQemu, checkStaleRuns, checkStrict } from "./doctor/host.ts";

export type {
  Check,
  CheckId,
  CheckItem,
  CheckStatus,
  DoctorInput,
  DoctorReport,
} from "./doctor/checks.ts";

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
    if (store !== null && schemaOk) {
      await checkInterrupted(checks, store, () => input.locksFor(dbPath), dbFlag);
    } else checks.skip(["interrupted"], "the database cannot be read");

    // ---- files on the host ----
    checkHook(checks, input, rootFlag, dbFlag);
    addOtherHooks(checks, otherHookItems(root, `vgpu-admin install-hook${rootFlag}${dbFlag}`));
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
      domIds: true, // the QEMU check's, in the same vm-list
    });
    if (view.host.kind !== "read") {
      checks.add("drift", "failed", `the host's VMs could not be read: ${hostError(view)}`);
      checks.skip(HOST_CHECKS.slice(1), "the host's VMs could not be read");
      return done();
    }
    const drift = checkDrift(checks, view, view.host);
    checkStrict(checks, settings, drift);
    checkStaleRuns(checks, view);
    checkQemu(checks, view, input.procRoot);
    // pool mode only: standalone adds no check and no xe call, and loads none of pool mode's
    // modules (~8: issue 19, doctor's peak RSS at 10,000 VMs is at its end)
    if (readPoolState(store) !== null) {
      await (await import("./doctor/pool.ts")).checkPool(checks, store, client, input.redoLog);
    }
    return done();
  } finally {
    store?.close();
  }
}

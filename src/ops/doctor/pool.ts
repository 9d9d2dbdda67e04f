// doctor in pool mode (design.md §8): the pool-mode marker, the claims against the VMs' args, and
// whether a master crash can roll claims back (neither HA nor the redo log). Standalone: nothing.
import { POOL_FORMAT, problemText } from "../../domain/pool.ts";
import { VgpuError } from "../../domain/errors.ts";
import { readPoolState } from "../../store/pool-cache.ts";
import type { Store } from "../../store/store.ts";
import type { Xe } from "../../xe/client.ts";
import { XePool } from "../../xe/pool.ts";
import type { RedoLog } from "../../xe/xapi-local.ts";
import { readSnapshot } from "../pool-mode.ts";
import { type Checks, plural } from "./checks.ts";

/** Adds the pool checks when this host is in pool mode (two more xe calls); else nothing. */
export async function checkPool(
  checks: Checks,
  store: Store,
  xe: Xe,
  redoLog: () => RedoLog,
): Promise<void> {
  const state = readPoolState(store);
  if (state === null) return;
  let snap;
  try {
    snap = await readSnapshot(new XePool(xe));
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    checks.add(
      "pool-mode",
      "failed",
      `the pool master ${state.masterName} cannot be reached: ${e.message}`,
      "wait for the master (or for HA to elect one), then vgpu-admin pool reconcile",
    );
    checks.skip(["pool-claims", "pool-durability"], "the pool master cannot be reached");
    return;
  }
  if (snap.format === null || snap.format === 0 || !(snap.format <= POOL_FORMAT)) {
    checks.add(
      "pool-mode",
      "failed",
      snap.format === null
        ? "this host is in pool mode but the pool has lost its pool-mode marker"
        : snap.format === 0
        ? "pool mode was turned off on this pool"
        : `the pool runs pool mode format ${snap.format}, newer than this vgpu-admin (${POOL_FORMAT})`,
      snap.format === null
        ? "vgpu-admin pool reconcile"
        : snap.format === 0
        ? "vgpu-admin status (this host then leaves pool mode)"
        : "upgrade vgpu-admin on this host",
    );
  } else {
    checks.add(
      "pool-mode",
      "ok",
      `on (format ${snap.format}), ${plural(snap.claims.size, "vm_id claim")}`,
    );
  }
  const problems = snap.registry.problems;
  if (problems.length === 0) {
    checks.add("pool-claims", "ok", "every claim matches the args of the VM that holds it");
  } else {
    checks.add(
      "pool-claims",
      "failed",
      `${plural(problems.length, "inconsistency", "inconsistencies")} between claims and args`,
      "vgpu-admin pool reconcile on each GPU host (vgpu-admin pool status names each)",
      problems.map((p) => ({ vmUuid: p.vmUuid, message: problemText(p), fix: p.fix })),
    );
  }
  const redo = redoLog();
  if (snap.record.haEnabled || redo.state === "on") {
    checks.add(
      "pool-durability",
      "ok",
      snap.record.haEnabled
        ? "HA is on: claims reach disk at once"
        : "the redo log is on: claims reach disk at once",
    );
  } else {
    checks.add(
      "pool-durability",
      "warning",
      redo.state === "off"
        ? "neither HA nor the redo log is on: a master crash can roll back up to ~5 minutes of claims"
        : `HA is off and the redo log cannot be told (${redo.why}): without either, a master crash can roll back up to ~5 minutes of claims`,
      "xe pool-enable-redo-log (or HA); after a master crash run vgpu-admin pool reconcile",
    );
  }
}

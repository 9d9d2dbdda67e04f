// import's apply phase, once the plan was confirmed: the backup before --replace, the devices of
// the VMs the import removes taken out BEFORE their rows go (issue 21 item 2: a crash in between
// leaves a registered VM without its device, drift that sync repairs, never a freed vm_id that a
// VM still carries), then the rows in one transaction (transfer.ts applyImport). Writing the
// imported VMs' args afterwards is transfer.ts writeImportedArgs.
import type { ImportConfig } from "../domain/config-file.ts";
import { ConflictError, OperationFailedError } from "../domain/errors.ts";
import type { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import {
  applyImport,
  type HostReport,
  importBackupPath,
  type ImportPlan,
  writeImportedArgs,
} from "./transfer.ts";

/** A phase's progress: a counted line per VM, ended once the phase is over. */
export interface PhaseProgress {
  update(line: string): void;
  done(): void;
}

export interface ImportedRows {
  /** The plan as applied (made again inside the write lock: equal to the confirmed one). */
  applied: ImportPlan;
  /** The removed VMs' devices taken out (null: none removed, or --offline). */
  removals: HostReport | null;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** Copies the database before `import --replace`; returns the copy's path. */
export async function backupBeforeReplace(store: Store, now: Date): Promise<string> {
  return await store.backupTo(importBackupPath(store.path, now));
}

/**
 * Takes the device out of the VMs the import removes (unless offline), then applies the plan's
 * rows. Any failure before the rows leaves the database as it was and says how to go on.
 */
export async function importRows(
  store: Store,
  xe: () => Promise<Xe>,
  config: ImportConfig,
  plan: ImportPlan,
  o: { offline: boolean; progress: PhaseProgress },
): Promise<ImportedRows> {
  const removals = o.offline || plan.removed.length === 0
    ? null
    : await takeOutRemoved(store, xe, plan, o.progress);
  try {
    return { applied: applyImport(store, config, plan), removals };
  } catch (e) {
    if (e instanceof ConflictError && removals !== null && wroteAny(removals)) {
      throw new ConflictError(`${e.message}; ${putBackAdvice(removals)}`);
    }
    throw e;
  }
}

/** Takes our device out of every VM the import removes; any failure stops the import. */
async function takeOutRemoved(
  store: Store,
  xe: () => Promise<Xe>,
  plan: ImportPlan,
  progress: PhaseProgress,
): Promise<HostReport> {
  const report = await writeImportedArgs(store, xe, plan, progress.update, "remove")
    .finally(progress.done);
  if (report.hostError !== null) {
    throw new OperationFailedError(
      `the host could not be read, so nothing was imported (the VMs the import removes lose their vgpu-stub device first): ${report.hostError}; run the import again once xe works`,
    );
  }
  const failed = report.writes.filter((w) => w.result === "failed");
  if (failed.length > 0) {
    throw new OperationFailedError(
      `the vgpu-stub device of ${
        plural(failed.length, "VM")
      } the import removes could not be taken out (VM ${failed[0].vmUuid}: ${
        failed[0].error
      }), so nothing was imported and no vm_id was freed; ${
        wroteAny(report) ? putBackAdvice(report) : "run the import again once xe works"
      }`,
    );
  }
  return report;
}

function wroteAny(report: HostReport): boolean {
  return report.writes.some((w) => w.result === "wrote");
}

function putBackAdvice(report: HostReport): string {
  const n = report.writes.filter((w) => w.result === "wrote").length;
  return `the device was already taken out of ${plural(n, "VM")} that ${
    n === 1 ? "stays" : "stay"
  } registered: run 'vgpu-admin sync' to write it back, or run the import again`;
}

// sync: bring every registered VM's args to the database. What sync cannot fix (a VM gone from
// the host, an unregistered VM with a device) is reported with the command that fixes it.
import { mergeDeviceArgs } from "../domain/device-args.ts";
import type { DriftItem } from "../domain/drift.ts";
import { VgpuError } from "../domain/errors.ts";
import type { HostVm, Vm } from "../domain/types.ts";
import type { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import type { HostView } from "./scan.ts";
import { setArgsVerified } from "./xe-write.ts";
import { type PoolBulk, stoppedLine } from "./pool-bulk.ts";

export interface SyncFix {
  vm: Vm;
  host: HostVm;
  argsBefore: string | null;
  argsAfter: string;
  items: DriftItem[];
}

export interface SyncPlan {
  fixes: SyncFix[];
  /** Drift sync does not repair (vm-gone, unregistered VMs). */
  others: DriftItem[];
}

export function planSync(host: HostView): SyncPlan {
  const fixes: SyncFix[] = [];
  const others: DriftItem[] = [];
  for (const s of host.drift.vms) {
    if (s.drift.length === 0) continue;
    if (s.registered !== null && s.host !== null) {
      const argsAfter = mergeDeviceArgs(s.host.deviceModelArgs, s.registered);
      if (argsAfter !== s.host.deviceModelArgs) {
        fixes.push({
          vm: s.registered,
          host: s.host,
          argsBefore: s.host.deviceModelArgs,
          argsAfter,
          items: s.drift,
        });
        continue;
      }
    }
    others.push(...s.drift);
  }
  return { fixes, others };
}

export interface SyncOutcome {
  fix: SyncFix;
  error: string | null;
}

/**
 * Writes each fix; one VM's failure does not stop the others. Running VMs get a stale-run mark.
 * Pool mode (`pool`): each VM's ticket and the claim of its vm_id first (a conflict or a busy VM
 * refuses that VM alone); the master gone stops the run, the VMs not reached are reported.
 */
export async function applySync(
  store: Store,
  xe: Xe,
  fixes: readonly SyncFix[],
  progress: (line: string) => void,
  pool: PoolBulk | null = null,
): Promise<SyncOutcome[]> {
  const results: SyncOutcome[] = [];
  for (const [i, fix] of fixes.entries()) {
    progress(`[${i + 1}/${fixes.length}] VM ${fix.vm.vmUuid}`);
    const uuid = fix.vm.vmUuid;
    try {
      const refused = pool === null ? null : await pool.take(uuid, fix.vm.vmId, fix.argsBefore);
      if (refused !== null) {
        results.push({ fix, error: refused });
        continue;
      }
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      const line = stoppedLine(e, i, fixes.length);
      for (const f of fixes.slice(i)) results.push({ fix: f, error: line });
      break;
    }
    try {
      await setArgsVerified(xe, uuid, fix.argsAfter);
      if (fix.host.powerState !== "halted") {
        store.markStaleRun(uuid, "args rewritten by sync");
      }
      // the args carry the row's vm_id now: a claim of another id this VM held goes
      await pool?.settled(uuid, fix.vm.vmId);
      results.push({ fix, error: null });
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      results.push({ fix, error: e.message });
    } finally {
      await pool?.finish(uuid);
    }
  }
  return results;
}

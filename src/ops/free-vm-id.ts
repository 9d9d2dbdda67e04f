// The vm_id a conflict error offers instead: the same rule as the drift lines of scan, status and
// sync (nobody holds it, no VM carries it), so the error and `sync --check` name the same number.
import { parseDeviceArgs } from "../domain/device-args.ts";
import { nextFreeVmId } from "../domain/drift.ts";
import { ConflictError, VgpuError } from "../domain/errors.ts";
import type { Vm } from "../domain/types.ts";
import { conflictMessage, type Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";

/** The next free vm_id; the host's args are asked when xe is given (a failure is ignored). */
export async function nextFreeVmIdFor(store: Store, xe: Xe | null): Promise<number> {
  const held = new Set(store.listVms().map((v) => v.vmId));
  const carried = new Set<number>();
  if (xe !== null) {
    try {
      for (const vm of await xe.vmList()) {
        for (const stub of parseDeviceArgs(vm.deviceModelArgs).stubs) {
          if (stub.vmId !== null) carried.add(stub.vmId);
        }
      }
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
    }
  }
  return nextFreeVmId((id) => held.has(id) || carried.has(id));
}

/** "VM ID n already in use by …; pass --vm-id=<next free> …": the error names the way out. */
export async function vmIdConflict(
  store: Store,
  xe: Xe | null,
  vmId: number,
  holder: Vm,
  why = "",
): Promise<ConflictError> {
  const free = await nextFreeVmIdFor(store, xe);
  const way = `pass --vm-id=${free} (the next free vm_id) to choose another`;
  return new ConflictError(`${conflictMessage(vmId, holder)}${why}; ${way}`);
}

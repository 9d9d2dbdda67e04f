// remove-vm (design.md §2): take our device out of the VM's args, then delete the row; when the
// host no longer has the VM, the row alone goes. In that order so that no crash frees a vm_id
// the VM still carries (issue 21 item 2): a power loss between the two leaves the row (drift
// "args missing", shown with its fix) and never a free vm_id on a VM that carries it.
import { parseDeviceArgs, removeDeviceArgs } from "../domain/device-args.ts";
import type { Clock } from "../domain/clock.ts";
import { OperationFailedError, VgpuError } from "../domain/errors.ts";
import type { HostVm, Vm } from "../domain/types.ts";
import type { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import { setArgsVerified, WriteFailedError } from "./xe-write.ts";

export interface RemoveResult {
  vm: Vm;
  /** null: --offline, or the host has no such VM (`hostMissing`). */
  host: HostVm | null;
  hostMissing: boolean;
  argsBefore: string | null;
  argsAfter: string | null;
}

export async function removeVm(
  store: Store,
  xe: Xe | null,
  vmUuid: string,
  clock: Clock | null = null,
): Promise<RemoveResult> {
  store.requireVm(vmUuid); // not registered → NotFoundError before any xe call
  const host = xe === null ? null : (await xe.vmList({ uuid: vmUuid }))[0] ?? null;
  const argsBefore = host?.deviceModelArgs ?? null;
  const hasStub = host !== null && parseDeviceArgs(argsBefore).stubs.length > 0;
  const argsAfter = hasStub ? removeDeviceArgs(argsBefore) : argsBefore;
  if (xe !== null && hasStub) {
    try {
      await setArgsVerified(xe, vmUuid, argsAfter, clock);
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      if (e instanceof WriteFailedError && e.outcome === "unknown") {
        // Whether the device is gone is unknown: keep the row (its vm_id may still be in use).
        throw new OperationFailedError(
          `removing the vgpu-stub device from VM ${vmUuid} did not answer and its args could not be read back (${e.message}); ` +
            `it stays registered: check it with 'vgpu-admin show-vm --vm-uuid=${vmUuid}', then run remove-vm again`,
        );
      }
      throw new OperationFailedError(
        `could not remove the vgpu-stub device from VM ${vmUuid}, so it stays registered: ${e.message}`,
      );
    }
  }
  // The device is gone from the VM (or there is none): its vm_id may be freed now.
  let vm: Vm;
  try {
    vm = store.deleteVm(vmUuid).before!;
  } catch (e) {
    if (!(e instanceof VgpuError) || !hasStub) throw e;
    throw new OperationFailedError(
      `the vgpu-stub device was removed from VM ${vmUuid}, but its row could not be deleted (${e.message}); ` +
        `run 'vgpu-admin remove-vm --vm-uuid=${vmUuid}' again once the database accepts writes`,
    );
  }
  if (xe === null || host === null) {
    return { vm, host: null, hostMissing: xe !== null, argsBefore: null, argsAfter: null };
  }
  return { vm, host, hostMissing: false, argsBefore, argsAfter };
}

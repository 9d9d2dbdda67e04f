// remove-vm (design.md §2): delete the row and take our device out of the VM's args; when the
// host no longer has the VM, the row alone goes. If the xe part fails, the row is restored.
import { parseDeviceArgs, removeDeviceArgs } from "../domain/device-args.ts";
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

export async function removeVm(store: Store, xe: Xe | null, vmUuid: string): Promise<RemoveResult> {
  store.requireVm(vmUuid); // not registered → NotFoundError before any xe call
  const host = xe === null ? null : (await xe.vmList({ uuid: vmUuid }))[0] ?? null;
  const change = store.deleteVm(vmUuid);
  const vm = change.before!;
  if (xe === null || host === null) {
    return { vm, host: null, hostMissing: xe !== null, argsBefore: null, argsAfter: null };
  }
  const argsBefore = host.deviceModelArgs;
  const hasStub = parseDeviceArgs(argsBefore).stubs.length > 0;
  const argsAfter = hasStub ? removeDeviceArgs(argsBefore) : argsBefore;
  if (hasStub) {
    try {
      await setArgsVerified(xe, vmUuid, argsAfter);
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      if (e instanceof WriteFailedError && e.outcome === "unknown") {
        // Whether the device is gone is unknown: keep the row (its vm_id may still be in use).
        store.undoChange(change);
        throw new OperationFailedError(
          `removing the vgpu-stub device from VM ${vmUuid} did not answer and its args could not be read back (${e.message}); ` +
            `it stays registered: check it with 'vgpu-admin show-vm --vm-uuid=${vmUuid}', then run remove-vm again`,
        );
      }
      store.undoChange(change);
      throw new OperationFailedError(
        `could not remove the vgpu-stub device from VM ${vmUuid}, so it stays registered: ${e.message}`,
      );
    }
  }
  return { vm, host, hostMissing: false, argsBefore, argsAfter };
}

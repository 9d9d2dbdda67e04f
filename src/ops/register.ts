// register-vm: check the VM on the host, insert the row, write its args at once (design.md §4:
// the start hook can only repair the next start). If the xe part fails, the row is undone.
import { mergeDeviceArgs, parseDeviceArgs, type VgpuStub } from "../domain/device-args.ts";
import { NotFoundError, OperationFailedError, VgpuError } from "../domain/errors.ts";
import type { HostVm, PoolId, Priority, Vm } from "../domain/types.ts";
import { sanitizeHostName } from "../domain/validate.ts";
import type { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import { setArgsVerified, WriteFailedError } from "./xe-write.ts";

export interface RegisterInput {
  vmUuid: string;
  vmName?: string;
  pool: PoolId;
  priority: Priority;
  vmId?: number;
}

export interface RegisterResult {
  vm: Vm;
  /** null with --offline. */
  host: HostVm | null;
  /** The VM's args before and after (equal when nothing had to be written). */
  argsBefore: string | null;
  argsAfter: string | null;
  /** vgpu-stub devices the VM carried before, when they differed from ours. */
  replaced: VgpuStub[];
}

/** Finds one VM on the host or says how to proceed without it. */
export async function requireHostVm(xe: Xe, vmUuid: string, offlineHint: boolean): Promise<HostVm> {
  const [vm] = await xe.vmList({ uuid: vmUuid });
  if (vm === undefined) {
    throw new NotFoundError(
      `VM ${vmUuid} does not exist on this host (xe vm-list)${
        offlineHint ? "; check the uuid, or pass --offline to change the database only" : ""
      }`,
    );
  }
  return vm;
}

export async function registerVm(
  store: Store,
  xe: Xe | null,
  input: RegisterInput,
): Promise<RegisterResult> {
  // Cheap database checks first, so a conflict never costs an xe call.
  store.assertCanInsert(input.vmUuid, input.vmId);
  const host = xe === null ? null : await requireHostVm(xe, input.vmUuid, true);
  const vmName = input.vmName ?? (host ? sanitizeHostName(host.nameLabel) || null : null);
  const change = store.insertVm({
    vmUuid: input.vmUuid,
    vmName,
    pool: input.pool,
    priority: input.priority,
    vmId: input.vmId,
  });
  const vm = change.after!;
  if (xe === null || host === null) {
    return { vm, host: null, argsBefore: null, argsAfter: null, replaced: [] };
  }
  const argsBefore = host.deviceModelArgs;
  const argsAfter = mergeDeviceArgs(argsBefore, vm);
  const replaced = parseDeviceArgs(argsBefore).stubs.filter((s) =>
    s.config === null || s.config.pool !== vm.pool || s.config.priority !== vm.priority ||
    s.config.vmId !== vm.vmId
  );
  if (argsAfter !== argsBefore) {
    try {
      await setArgsVerified(xe, vm.vmUuid, argsAfter);
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      if (e instanceof WriteFailedError && e.outcome === "unknown") {
        // The VM may carry the new vm_id: the row stays, so no other VM can be given it.
        throw new OperationFailedError(
          `writing the vGPU args of VM ${vm.vmUuid} did not answer and they could not be read back (${e.message}); ` +
            `it stays registered: check it with 'vgpu-admin show-vm --vm-uuid=${vm.vmUuid}' and run 'vgpu-admin sync'`,
        );
      }
      store.undoChange(change);
      throw new OperationFailedError(
        `could not write the vGPU args of VM ${vm.vmUuid}, so it was not registered: ${e.message}`,
      );
    }
    if (host.powerState !== "halted") store.markStaleRun(vm.vmUuid, "registered while running");
  }
  return { vm, host, argsBefore, argsAfter, replaced };
}

// register-vm: check the VM on the host, insert the row, write its args at once (design.md §4:
// the start hook can only repair the next start). If the xe part fails, the row is undone.
import {
  mergeDeviceArgs,
  parseDeviceArgs,
  requirePlausibleArgs,
  type VgpuStub,
} from "../domain/device-args.ts";
import { NotFoundError, OperationFailedError, VgpuError } from "../domain/errors.ts";
import type { HostVm, PoolId, Priority, VgpuConfig, Vm } from "../domain/types.ts";
import { sanitizeHostName } from "../domain/validate.ts";
import type { Store } from "../store/store.ts";
import { vmIdConflict } from "./free-vm-id.ts";
import { assertPoolTakesVm } from "./pools.ts";
import type { Xe } from "../xe/client.ts";
import { setArgsVerified, WriteFailedError } from "./xe-write.ts";

export interface RegisterInput {
  vmUuid: string;
  vmName?: string;
  /** undefined: the VM's own vgpu-stub value, else A. */
  pool?: PoolId;
  /** undefined: the VM's own vgpu-stub value, else medium. */
  priority?: Priority;
  /** undefined: the VM's own vgpu-stub value, else the lowest unused. */
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
  /** The valid vgpu-stub the VM carried (its values were the defaults), or null. */
  carried: VgpuConfig | null;
}

/** The one valid vgpu-stub a VM carries (set by hand before vgpu-admin), or null. */
function carriedConfig(args: string | null): VgpuConfig | null {
  const stubs = parseDeviceArgs(args).stubs;
  return stubs.length === 1 ? stubs[0].config : null;
}

/** The vm_ids that VMs on the host other than `vmUuid` carry in their args (issue 21 item 2). */
async function carriedByOthers(xe: Xe, vmUuid: string): Promise<Set<number>> {
  const ids = new Set<number>();
  for (const vm of await xe.vmList()) {
    if (vm.uuid === vmUuid) continue;
    for (const stub of parseDeviceArgs(vm.deviceModelArgs).stubs) {
      if (stub.vmId !== null) ids.add(stub.vmId);
    }
  }
  return ids;
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

/** Pool mode: vm_ids are claimed pool-wide (ops/pool-register.ts); absent when standalone. */
export interface VmIdClaims {
  claim(vmUuid: string, wanted: number | undefined): Promise<number>;
  release(vmUuid: string, vmId: number): Promise<void>;
}

export async function registerVm(
  store: Store,
  xe: Xe | null,
  input: RegisterInput,
  claims?: VmIdClaims,
): Promise<RegisterResult> {
  // Cheap database checks first, so a conflict never costs an xe call.
  store.assertCanInsert(input.vmUuid, undefined);
  if (input.vmId !== undefined) {
    const holder = store.getVmByVmId(input.vmId);
    if (holder !== null) throw await vmIdConflict(store, xe, input.vmId, holder);
  }
  if (input.pool !== undefined) assertPoolTakesVm(store, input.pool);
  const host = xe === null ? null : await requireHostVm(xe, input.vmUuid, true);
  // args xe answered that are not QEMU options are refused before any claim or row exists
  if (host !== null) requirePlausibleArgs(host.deviceModelArgs, input.vmUuid);
  const vmName = input.vmName ?? (host ? sanitizeHostName(host.nameLabel) || null : null);
  // A VM configured by hand keeps its values unless a flag says otherwise (002, compatibility).
  const carried = host === null ? null : carriedConfig(host.deviceModelArgs);
  const pool = input.pool ?? carried?.pool ?? "A";
  let vmId = input.vmId ?? carried?.vmId;
  assertPoolTakesVm(store, pool);
  if (input.vmId === undefined && vmId !== undefined) {
    const holder = store.getVmByVmId(vmId);
    if (holder !== null && holder.vmUuid !== input.vmUuid) {
      throw await vmIdConflict(store, xe, vmId, holder, ", the vm_id this VM's args carry");
    }
  }
  // pool mode: the pool-wide claim first (xapi), then this host's database (design.md §8)
  if (claims !== undefined) vmId = await claims.claim(input.vmUuid, vmId);
  const newVm = {
    vmUuid: input.vmUuid,
    vmName,
    pool,
    priority: input.priority ?? carried?.priority ?? 1,
    vmId,
    // the lowest free vm_id is never one that a VM on the host carries, registered or not
    avoid: vmId === undefined && xe !== null ? await carriedByOthers(xe, input.vmUuid) : undefined,
  };
  let change;
  try {
    change = store.insertVm(newVm);
  } catch (e) {
    if (claims !== undefined && vmId !== undefined) await claims.release(input.vmUuid, vmId);
    throw e;
  }
  const vm = change.after!;
  if (xe === null || host === null) {
    return { vm, host: null, argsBefore: null, argsAfter: null, replaced: [], carried: null };
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
      if (claims !== undefined) await claims.release(vm.vmUuid, vm.vmId);
      throw new OperationFailedError(
        `could not write the vGPU args of VM ${vm.vmUuid}, so it was not registered: ${e.message}`,
      );
    }
    if (host.powerState !== "halted") store.markStaleRun(vm.vmUuid, "registered while running");
  }
  return { vm, host, argsBefore, argsAfter, replaced, carried };
}

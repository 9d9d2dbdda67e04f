import { removeVm } from "../../ops/remove.ts";
import { confirmOrCancel } from "../confirm.ts";
import type { PooledChange } from "../../ops/pool-change.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import { removedLines, removeQuestion } from "../render/remove-vm.ts";
import { claimVms } from "../../ops/vm-claim.ts";
import { requiredVmRef, resolveVm, type VmRef } from "../vm-ref.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface RemoveVmOptions {
  vm: VmRef;
  yes: boolean;
  offline: boolean;
}

export function parseOptions(input: RawOptions): RemoveVmOptions {
  const raw = input.pick({ yes: "flag", offline: "flag" });
  return { vm: requiredVmRef(input), yes: raw.yes === true, offline: raw.offline === true };
}

export async function run(opts: RemoveVmOptions, deps: Deps): Promise<void> {
  const store = await deps.store();
  const vmUuid = await resolveVm(opts.vm, deps, "registered");
  // pool mode (design.md §8): the VM's pool-wide ticket and a fresh cache first; its vm_id
  // claim is released at the end. Standalone: null, nothing else happens here.
  const { beginPooledChange } = await import("../../ops/pool-change.ts");
  const { assertNotPooledOffline } = await import("../../ops/pool-write.ts");
  if (opts.offline) assertNotPooledOffline(store, "a removal");
  const pooled = opts.offline ? null : await beginPooledChange(store, deps, vmUuid);
  try {
    const vm = store.requireVm(vmUuid);
    if (!opts.offline) claimVms(store, deps.locks(), [vm.vmUuid]);
    await removeSteps(opts, vmUuid, deps, pooled);
  } finally {
    await pooled?.done();
  }
}

async function removeSteps(
  opts: RemoveVmOptions,
  vmUuid: string,
  deps: Deps,
  pooled: PooledChange | null,
): Promise<void> {
  const store = await deps.store();
  const vm = store.requireVm(vmUuid);
  await confirmOrCancel(removeQuestion(vm), opts.yes, deps);
  const r = await removeVm(store, opts.offline ? null : await deps.xe(), vmUuid, deps.clock);
  if (pooled !== null) {
    const { releaseVmId } = await import("../../ops/pool-mode.ts");
    await releaseVmId(pooled.write.ctx, r.vm.vmUuid, r.vm.vmId);
  }
  writeLines(deps.io.out, removedLines(r, opts.offline));
}

export const command = defineCommand({ parseOptions, run });

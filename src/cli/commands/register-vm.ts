import { UsageError } from "../../domain/errors.ts";
import type { PoolId, Priority } from "../../domain/types.ts";
import { parsePoolId, parsePriority, parseVmId, parseVmName } from "../../domain/validate.ts";
import { registerVm } from "../../ops/register.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import { registeredLines } from "../render/register-vm.ts";
import { claimVms } from "../../ops/vm-claim.ts";
import { requiredVmRef, resolveVm, type VmRef } from "../vm-ref.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface RegisterVmOptions {
  vm: VmRef;
  vmName?: string;
  /** undefined: the VM's own vgpu-stub value, else A. */
  pool?: PoolId;
  /** undefined: the VM's own vgpu-stub value, else medium. */
  priority?: Priority;
  vmId?: number;
  offline: boolean;
}

export function parseOptions(input: RawOptions): RegisterVmOptions {
  const raw = input.pick({
    vmName: "text",
    pool: "text",
    priority: "text",
    vmId: "text",
    offline: "flag",
  });
  return {
    vm: requiredVmRef(input),
    vmName: raw.vmName === undefined ? undefined : parseVmName(raw.vmName),
    pool: raw.pool === undefined ? undefined : parsePoolId(raw.pool),
    priority: raw.priority === undefined ? undefined : parsePriority(raw.priority),
    vmId: raw.vmId === undefined ? undefined : parseVmId(raw.vmId),
    offline: raw.offline === true,
  };
}

export async function run(opts: RegisterVmOptions, deps: Deps): Promise<void> {
  if (opts.offline && opts.vm.kind === "name") {
    throw new UsageError("--offline does not ask xe, so it cannot look a name up: give --vm-uuid");
  }
  const store = await deps.store({ create: true });
  // a name is looked up among the host's VMs: an unregistered VM is what register-vm takes
  const vmUuid = await resolveVm(opts.vm, deps, "host");
  // --offline changes the database only: its transaction is all the protection it needs
  if (!opts.offline) claimVms(store, deps.locks(), [vmUuid]);
  const xe = opts.offline ? null : await deps.xe();
  // pool mode (design.md §8): the VM's pool-wide ticket, then its vm_id claimed in xapi
  const { beginPoolWrite, assertNotPooledOffline } = await import("../../ops/pool-write.ts");
  if (opts.offline) assertNotPooledOffline(store, "a registration");
  const pooled = xe === null ? null : await beginPoolWrite({
    store,
    xe,
    now: deps.now,
    host: deps.localHost(),
    command: deps.command,
    vmUuids: [vmUuid],
  });
  let r;
  try {
    r = await registerVm(store, xe, { ...opts, vmUuid }, pooled?.claims);
  } finally {
    await pooled?.done();
  }
  writeLines(deps.io.out, registeredLines(r));
}

export const command = defineCommand({ parseOptions, run });

// set-pool, set-priority, set-vm-id, update-vm: the reconfiguration protocol of design.md §5.
// plan (validate, read the host) → the command confirms → apply (stop, commit, write, start),
// with compensating writes when a step after the shutdown fails. No database transaction is
// ever held across an xe call: the VM's own start hook reads the database during vm-start.
import { mergeDeviceArgs, sameConfig } from "../domain/device-args.ts";
import {
  ConflictError,
  OperationFailedError,
  PowerStateRefusedError,
  VgpuError,
} from "../domain/errors.ts";
import type { HostVm, PoolId, PowerState, Priority, VgpuConfig, Vm } from "../domain/types.ts";
import { priorityName } from "../domain/types.ts";
import { conflictMessage, type Store, type VmChange } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import { requireHostVm } from "./register.ts";

export interface ReconfigureRequest {
  vmUuid: string;
  pool?: PoolId;
  priority?: Priority;
  vmId?: number;
}

export interface ReconfigurePlan {
  vm: Vm;
  next: VgpuConfig;
  /** False: nothing requested differs from the database; nothing is to be done. */
  changed: boolean;
  /** null when nothing changes (the host is not read then). */
  host: HostVm | null;
  running: boolean;
}

export interface ApplyOptions {
  shutdownTimeoutMs: number;
  /** vm-start has its own bound: a slow boot must not be mistaken for a failed shutdown wait. */
  startTimeoutMs: number;
  forceShutdown: boolean;
  /** Host to start the VM on (`on=`); null lets xapi choose. */
  localHost: string | null;
  progress(line: string): void;
}

export interface ApplyResult {
  vm: Vm;
  argsBefore: string | null;
  argsAfter: string;
  restarted: boolean;
  /** The clean shutdown finished only after its wait had timed out. */
  lateShutdown: boolean;
}

/** Step 1: validates values, conflicts, the VM on the host and its power state. */
export async function planReconfigure(
  store: Store,
  xe: () => Promise<Xe>,
  req: ReconfigureRequest,
): Promise<ReconfigurePlan> {
  const vm = store.requireVm(req.vmUuid);
  const next: VgpuConfig = {
    pool: req.pool ?? vm.pool,
    priority: req.priority ?? vm.priority,
    vmId: req.vmId ?? vm.vmId,
  };
  if (sameConfig(vm, next)) return { vm, next, changed: false, host: null, running: false };
  const holder = store.getVmByVmId(next.vmId);
  if (holder !== null && holder.vmUuid !== vm.vmUuid) {
    throw new ConflictError(conflictMessage(next.vmId, holder));
  }
  const host = await requireHostVm(await xe(), vm.vmUuid, false).catch((e) => {
    if (e instanceof VgpuError && e.name === "NotFoundError") {
      throw new OperationFailedError(
        `VM ${vm.vmUuid} is registered but does not exist on this host; remove it with 'vgpu-admin remove-vm --vm-uuid=${vm.vmUuid}'`,
      );
    }
    throw e;
  });
  refuseUnsettled(vm.vmUuid, host.powerState);
  return { vm, next, changed: true, host, running: host.powerState === "running" };
}

function refuseUnsettled(uuid: string, state: PowerState): void {
  if (state === "paused") {
    throw new PowerStateRefusedError(
      `VM ${uuid} is paused; unpause it (xe vm-unpause uuid=${uuid}) or shut it down, then retry`,
    );
  }
  if (state === "suspended") {
    throw new PowerStateRefusedError(
      `VM ${uuid} is suspended; resume it (xe vm-resume uuid=${uuid}) or shut it down, then retry`,
    );
  }
}

/** Step 4: a clean shutdown with a bounded wait; after a timeout the power state decides. */
async function stopVm(
  xe: Xe,
  uuid: string,
  o: ApplyOptions,
): Promise<{ late: boolean }> {
  const secs = Math.round(o.shutdownTimeoutMs / 1000);
  o.progress(`Shutting down VM ${uuid} (clean, waiting up to ${secs} s)...`);
  let cleanError: VgpuError;
  try {
    await xe.vmShutdown(uuid, { force: false, timeoutMs: o.shutdownTimeoutMs });
    return { late: false };
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    cleanError = e;
  }
  // The request may still complete inside xapi: read the state again before deciding.
  const state = await xe.vmPowerState(uuid);
  if (state === "halted") {
    o.progress("The clean shutdown completed after the wait ended.");
    return { late: true };
  }
  if (o.forceShutdown) {
    o.progress(`Clean shutdown failed (${cleanError.message}); forcing a hard shutdown...`);
    try {
      await xe.vmShutdown(uuid, { force: true, timeoutMs: o.shutdownTimeoutMs });
      return { late: false };
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      if ((await xe.vmPowerState(uuid)) === "halted") return { late: false };
      throw new OperationFailedError(
        `VM ${uuid} could not be shut down (${e.message}); nothing was changed and it is still ${state}`,
      );
    }
  }
  throw new OperationFailedError(
    `VM ${uuid} did not shut down (${cleanError.message}); nothing was changed and it is still ${state}. ` +
      `Its clean shutdown may still complete later (check: xe vm-param-get uuid=${uuid} param-name=power-state); ` +
      `retry with a longer --shutdown-timeout or with --force-shutdown`,
  );
}

/** Steps 4–7: stop, commit, write args, start; on failure undo and report the VM's state. */
export async function applyReconfigure(
  store: Store,
  xe: Xe,
  plan: ReconfigurePlan,
  o: ApplyOptions,
): Promise<ApplyResult> {
  const uuid = plan.vm.vmUuid;
  const { late } = plan.running ? await stopVm(xe, uuid, o) : { late: false };
  let change: VmChange | null = null;
  let argsBefore: string | null = plan.host!.deviceModelArgs;
  let argsWritten = false;
  let step = "reading the VM's args";
  try {
    argsBefore = await xe.vmGetArgs(uuid);
    step = "saving the new configuration";
    change = store.updateVm(uuid, plan.next);
    const argsAfter = mergeDeviceArgs(argsBefore, plan.next);
    step = "writing the VM's args";
    if (argsAfter !== argsBefore) {
      argsWritten = true; // set first: a timed-out write may still have happened
      await xe.vmSetArgs(uuid, argsAfter);
    }
    if (plan.running) {
      step = "starting the VM";
      o.progress(`Starting VM ${uuid}...`);
      await xe.vmStart(uuid, { onHost: o.localHost, timeoutMs: o.startTimeoutMs });
      // It booted with the args just written: whatever stale start was recorded is over.
      store.clearStaleRun(uuid);
    }
    return {
      vm: change.after!,
      argsBefore,
      argsAfter,
      restarted: plan.running,
      lateShutdown: late,
    };
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    const report = await compensate(store, xe, plan, o, {
      change,
      argsBefore,
      argsWritten,
      startFailed: step === "starting the VM",
    });
    throw new OperationFailedError(`${step} failed: ${e.message}. ${report}`);
  }
}

/** Step 7: original args, row and power state back; returns the truthful final state. */
async function compensate(
  store: Store,
  xe: Xe,
  plan: ReconfigurePlan,
  o: ApplyOptions,
  s: {
    change: VmChange | null;
    argsBefore: string | null;
    argsWritten: boolean;
    startFailed: boolean;
  },
): Promise<string> {
  const uuid = plan.vm.vmUuid;
  const notes: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      return true;
    } catch (e) {
      notes.push(`could not ${what}: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  };
  if (s.argsWritten) {
    await attempt("restore the original args", () => xe.vmSetArgs(uuid, s.argsBefore));
  }
  if (s.change !== null) {
    if (!store.undoChange(s.change)) {
      notes.push("the database row was changed by someone else meanwhile and was left as it is");
    }
  }
  if (plan.running) {
    let state: PowerState | null = null;
    await attempt("read the power state", async () => (state = await xe.vmPowerState(uuid)));
    if (state === "halted") {
      o.progress(`Starting VM ${uuid} again with its original configuration...`);
      await attempt(
        "start the VM again",
        () => xe.vmStart(uuid, { onHost: o.localHost, timeoutMs: o.startTimeoutMs }),
      );
    } else if (state === "running" && s.startFailed) {
      // xapi went on with the start after our wait ended: the VM booted with the new args.
      notes.push(
        "the VM started after the wait ended and runs with the new vGPU args until its next restart",
      );
      store.markStaleRun(uuid, "started during a reconfiguration that was undone");
    }
  }
  let finalState = "unknown";
  let finalArgs: string | null | undefined = undefined;
  await attempt(
    "read the final power state",
    async () => (finalState = await xe.vmPowerState(uuid)),
  );
  await attempt("read the final args", async () => (finalArgs = await xe.vmGetArgs(uuid)));
  const row = store.getVm(uuid);
  const rowText = row === null
    ? "not registered"
    : `vGPU pool ${row.pool}, priority ${priorityName(row.priority)}, VM ID ${row.vmId}`;
  const argsText = finalArgs === undefined ? "unknown" : finalArgs === null ? "(none)" : finalArgs;
  const restored = notes.length === 0 ? "Everything was put back. " : `${notes.join("; ")}. `;
  return `${restored}VM ${uuid} is now ${finalState} with args: ${argsText}; database: ${rowText}`;
}

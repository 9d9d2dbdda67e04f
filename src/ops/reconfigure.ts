// set-pool, set-priority, set-vm-id, update-vm: the reconfiguration protocol of design.md §5.
// plan (lock, validate, read the host) → the command confirms → re-check → apply (journal, stop,
// commit, write, start), with compensating writes when a step after the journal fails or a
// signal arrives. No database transaction is ever held across an xe call: the VM's own start
// hook reads the database during vm-start.
import { mergeDeviceArgs, sameConfig } from "../domain/device-args.ts";
import {
  BusyError,
  NotFoundError,
  OperationFailedError,
  PowerStateRefusedError,
  VgpuError,
} from "../domain/errors.ts";
import type { JournalEntry, JournalStep } from "../domain/journal.ts";
import type { HostVm, PoolId, PowerState, Priority, VgpuConfig, Vm } from "../domain/types.ts";
import { priorityName } from "../domain/types.ts";
import type { Store, VmChange } from "../store/store.ts";
import { vmIdConflict } from "./free-vm-id.ts";
import type { VmLocks } from "../locks/vm-lock.ts";
import type { Xe } from "../xe/client.ts";
import { assertPoolTakesVm } from "./pools.ts";
import { requireHostVm } from "./register.ts";
import { claimVms } from "./vm-claim.ts";
import { readWithRetry, setArgsVerified, startedAnyway, WriteFailedError } from "./xe-write.ts";

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
  /** The VM is to run again at the end: it runs now, or ran before an interrupted shutdown. */
  running: boolean;
  /**
   * An earlier run's clean shutdown that timed out and may still be pending in xapi (its journal
   * entry, still open): this run takes it over, so the VM is started again in the end.
   */
  inherited: JournalEntry | null;
  /** The args the VM will carry (computed from the args read now; re-read after the stop). */
  targetArgs: string | null;
  /** The host the VM runs on when that is not this host (uuid and name), else null. */
  elsewhere: { uuid: string; name: string } | null;
  /** This host's name, for the confirmation when the VM runs elsewhere. */
  localName: string | null;
}

export interface ApplyOptions {
  shutdownTimeoutMs: number;
  /** vm-start has its own bound: a slow boot must not be mistaken for a failed shutdown wait. */
  startTimeoutMs: number;
  forceShutdown: boolean;
  /** Host to start the VM on (`on=`); null lets xapi choose. */
  localHost: string | null;
  progress(line: string): void;
  /** The signal that interrupted the run (SIGINT, SIGTERM, SIGHUP), or null. */
  interrupted(): string | null;
  command: string;
  pid: number;
  /** Pool mode: the change reached its commit point (the commit marker, ops/pool-change.ts). */
  committed?: () => Promise<void>;
}

export interface ApplyResult {
  vm: Vm;
  argsBefore: string | null;
  argsAfter: string;
  restarted: boolean;
  /** The clean shutdown finished only after its wait had timed out. */
  lateShutdown: boolean;
  /** A signal arrived after both the row and the args were written: the change was finished. */
  finishedAfter: string | null;
}

/** Step 1: validates values, conflicts, the VM on the host and its power state; takes the lock. */
export async function planReconfigure(
  store: Store,
  xe: () => Promise<Xe>,
  locks: VmLocks,
  req: ReconfigureRequest,
  localHost: string | null = null,
): Promise<ReconfigurePlan> {
  const vm = store.requireVm(req.vmUuid);
  const next: VgpuConfig = {
    pool: req.pool ?? vm.pool,
    priority: req.priority ?? vm.priority,
    vmId: req.vmId ?? vm.vmId,
  };
  const unchanged = {
    vm,
    next,
    changed: false,
    host: null,
    running: false,
    inherited: null,
    targetArgs: null,
    elsewhere: null,
    localName: null,
  };
  if (sameConfig(vm, next)) return unchanged;
  const holder = store.getVmByVmId(next.vmId);
  if (holder !== null && holder.vmUuid !== vm.vmUuid) {
    const client = await xe().catch((e) => {
      if (e instanceof VgpuError) return null;
      throw e;
    });
    throw await vmIdConflict(store, client, next.vmId, holder);
  }
  assertPoolTakesVm(store, next.pool, vm.pool);
  const inherited = claimVmTakingOverStop(store, locks, vm);
  const client = await xe();
  const host = await requireHostVm(client, vm.vmUuid, false).catch((e) => {
    if (e instanceof NotFoundError) {
      throw new OperationFailedError(
        `VM ${vm.vmUuid} is registered but does not exist on this host; remove it with 'vgpu-admin remove-vm --vm-uuid=${vm.vmUuid}'`,
      );
    }
    throw e;
  });
  refuseUnsettled(vm.vmUuid, host.powerState);
  // Garbage from xe stops here, before the question (ImplausibleArgsError).
  const targetArgs = mergeDeviceArgs(host.deviceModelArgs, next);
  let elsewhere: ReconfigurePlan["elsewhere"] = null;
  let localName: string | null = null;
  if (host.residentOn !== null && localHost !== null && host.residentOn !== localHost) {
    const hosts = await client.hostList().catch(() => []);
    const name = (u: string) => hosts.find((h) => h.uuid === u)?.nameLabel ?? u;
    elsewhere = { uuid: host.residentOn, name: name(host.residentOn) };
    localName = name(localHost);
  }
  return {
    vm,
    next,
    changed: true,
    host,
    running: host.powerState === "running" ||
      (inherited !== null && inherited.original.power === "running" &&
        host.powerState === "halted"),
    inherited,
    targetArgs,
    elsewhere,
    localName,
  };
}

/**
 * The VM's lock, refusing while an interrupted operation is open on it, except one: a clean
 * shutdown that timed out with nothing else changed (the usual next step is to retry with
 * --force-shutdown or a longer wait). That entry is taken over and closed by this run.
 */
function claimVmTakingOverStop(store: Store, locks: VmLocks, vm: Vm): JournalEntry | null {
  locks.acquire([vm.vmUuid]);
  const open = store.openJournalEntries(vm.vmUuid);
  const e = open[0];
  if (open.length === 1 && e.step === "stopping" && sameConfig(e.original.row, vm)) {
    return e;
  }
  if (open.length > 0) {
    locks.releaseAll();
    claimVms(store, locks, [vm.vmUuid]); // throws the usual "run recover first"
  }
  return null;
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

/**
 * Step 3, after "yes": the row and the power state must still be what the question showed.
 * Someone may have started, stopped or changed the VM while the question was open.
 */
export async function recheckPlan(store: Store, xe: Xe, plan: ReconfigurePlan): Promise<void> {
  const uuid = plan.vm.vmUuid;
  const changes: string[] = [];
  const row = store.getVm(uuid);
  if (row === null) changes.push("it was removed from the database");
  else if (!sameConfig(row, plan.vm)) {
    changes.push(
      `its configuration is now vGPU pool ${row.pool}, priority ${
        priorityName(row.priority)
      }, VM ID ${row.vmId}`,
    );
  }
  const power = await xe.vmPowerState(uuid);
  if (power !== plan.host!.powerState) {
    changes.push(`its power state went from ${plan.host!.powerState} to ${power}`);
  }
  if (changes.length > 0) {
    throw new BusyError(
      `VM ${uuid} changed while the question was open: ${
        changes.join("; ")
      }; nothing changed: run the command again`,
    );
  }
}

/** Thrown inside apply when a signal arrived before a forward step. */
class Interrupted extends VgpuError {}

/** Step 5: a clean shutdown with a bounded wait; after a timeout the power state decides. */
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
  const state = await readWithRetry(() => xe.vmPowerState(uuid));
  if (state === "halted") {
    o.progress("The clean shutdown completed after the wait ended.");
    return { late: true };
  }
  if (o.forceShutdown && o.interrupted() === null) {
    o.progress(`Clean shutdown failed (${cleanError.message}); forcing a hard shutdown...`);
    try {
      await xe.vmShutdown(uuid, { force: true, timeoutMs: o.shutdownTimeoutMs });
      return { late: false };
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      if ((await readWithRetry(() => xe.vmPowerState(uuid))) === "halted") return { late: false };
      throw new StopFailed(
        `VM ${uuid} could not be shut down (${e.message}); nothing was changed and it is still ${
          state ?? "in an unknown power state"
        }`,
      );
    }
  }
  throw new StopFailed(
    `VM ${uuid} did not shut down (${cleanError.message}); nothing was changed and it is still ${
      state ?? "in an unknown power state"
    }. ` +
      `Its clean shutdown may still complete later: 'vgpu-admin recover --vm-uuid=${uuid}' then starts it again; ` +
      `retry with a longer --shutdown-timeout or with --force-shutdown`,
  );
}

/** The VM did not stop: nothing was changed, but a shutdown task may still be pending in xapi. */
class StopFailed extends OperationFailedError {}

/** Steps 4–8: journal, stop, commit, write args, start; on failure or signal, undo and report. */
export async function applyReconfigure(
  store: Store,
  xe: Xe,
  plan: ReconfigurePlan,
  o: ApplyOptions,
): Promise<ApplyResult> {
  const uuid = plan.vm.vmUuid;
  const host = plan.host!;
  const journal = store.transaction(() => {
    if (plan.inherited !== null) {
      store.closeJournal(plan.inherited.id, `taken over by ${o.command} (pid ${o.pid})`);
    }
    return store.openJournal({
      vmUuid: uuid,
      command: o.command,
      pid: o.pid,
      original: {
        row: config(plan.vm),
        args: host.deviceModelArgs,
        power: plan.running ? "running" : host.powerState,
      },
      target: { row: plan.next, args: plan.targetArgs },
    });
  });
  const advance = (step: JournalStep) => store.advanceJournal(journal, step);
  const forward = () => {
    const sig = o.interrupted();
    if (sig !== null) throw new Interrupted(`interrupted by ${sig}`);
  };
  let change: VmChange | null = null;
  let argsBefore: string | null = host.deviceModelArgs;
  let argsAfter = plan.targetArgs ?? "";
  let argsWritten = false;
  let late = false;
  let step = "shutting down the VM";
  try {
    if (host.powerState === "running") {
      forward();
      advance("stopping");
      late = (await stopVm(xe, uuid, o)).late;
      advance("stopped");
    }
    step = "reading the VM's args";
    forward();
    const read = await xe.vmGetArgs(uuid);
    argsAfter = mergeDeviceArgs(read, plan.next);
    if (read !== argsBefore) {
      argsBefore = read;
      store.advanceJournal(journal, host.powerState === "running" ? "stopped" : "planned", {
        original: argsBefore,
        target: argsAfter,
      });
    }
    step = "saving the new configuration";
    forward();
    store.transaction(() => {
      change = store.updateVm(uuid, plan.next, undefined, plan.vm);
      advance("row-written");
    });
    step = "writing the VM's args";
    forward();
    if (argsAfter !== argsBefore) {
      argsWritten = true; // set first: a timed-out write may still have happened
      await setArgsVerified(xe, uuid, argsAfter);
    }
    advance("args-written");
    await o.committed?.();
    // Row and args both hold the change now: a signal from here on finishes it (§5 step 9).
    if (plan.running) {
      step = "starting the VM";
      advance("starting");
      o.progress(`Starting VM ${uuid}...`);
      await startHere(xe, uuid, o);
    }
    store.transaction(() => {
      // It booted with the args just written: whatever stale start was recorded is over.
      if (plan.running) store.clearStaleRun(uuid);
      store.closeJournal(journal, "applied");
    });
    return {
      vm: (change as VmChange | null)!.after!,
      argsBefore,
      argsAfter,
      restarted: plan.running,
      lateShutdown: late,
      finishedAfter: o.interrupted(),
    };
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    if (e instanceof StopFailed) {
      // Nothing changed, but xapi's clean shutdown task goes on after our wait (xe-reference.md
      // "When the client goes away") and may halt the VM later: the entry stays open, so every
      // command shows it and `recover` starts the VM again if it does go down.
      throw e;
    }
    const report = await compensate(store, xe, plan, o, journal, {
      change,
      argsBefore,
      argsWritten: argsWritten && !(e instanceof WriteFailedError && e.outcome === "not-written"),
      startFailed: step === "starting the VM",
    });
    const what = e instanceof Interrupted
      ? `${e.message} before ${step}`
      : `${step} failed: ${e.message}`;
    throw new OperationFailedError(`${what}. ${report}`);
  }
}

function config(v: VgpuConfig): VgpuConfig {
  return { pool: v.pool, priority: v.priority, vmId: v.vmId };
}

/** vm-start on this host; a lost answer is read back (the start may have happened anyway). */
async function startHere(xe: Xe, uuid: string, o: ApplyOptions): Promise<void> {
  try {
    await xe.vmStart(uuid, { onHost: o.localHost, timeoutMs: o.startTimeoutMs });
  } catch (e) {
    if (await startedAnyway(xe, uuid, e)) {
      o.progress("The VM started although xe's answer was lost.");
      return;
    }
    throw e;
  }
}

/** Step 8: original args, row and power state back; returns the truthful final state. */
async function compensate(
  store: Store,
  xe: Xe,
  plan: ReconfigurePlan,
  o: ApplyOptions,
  journal: number,
  s: {
    change: VmChange | null;
    argsBefore: string | null;
    argsWritten: boolean;
    startFailed: boolean;
  },
): Promise<string> {
  const uuid = plan.vm.vmUuid;
  const notes: string[] = [];
  store.advanceJournal(journal, "undoing");
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      return true;
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      notes.push(`could not ${what}: ${e.message}`);
      return false;
    }
  };
  let argsRestored = true;
  if (s.argsWritten) {
    argsRestored = await attempt(
      "restore the original args",
      () => setArgsVerified(xe, uuid, s.argsBefore),
    );
  }
  if (s.change !== null) {
    if (!argsRestored) {
      // The VM carries the new args: the database must say so, never mark its vm_id free.
      notes.push("the database keeps the new configuration, which the VM now carries");
    } else if (!store.undoChange(s.change)) {
      notes.push("the database row was changed by someone else meanwhile and was left as it is");
    }
  }
  if (plan.running) {
    const state = await readWithRetry(() => xe.vmPowerState(uuid));
    if (state === "running" && s.startFailed) {
      // xapi went on with the start after our wait ended: the VM booted with the new args.
      notes.push(
        "the VM started after the wait ended and runs with the new vGPU args until its next restart",
      );
      store.markStaleRun(uuid, "started during a reconfiguration that was undone");
    } else if (state !== "running") {
      // halted, or unknown: start it anyway (xe refuses harmlessly when it already runs)
      o.progress(`Starting VM ${uuid} again with its original configuration...`);
      await attempt("start the VM again", async () => {
        try {
          await startHere(xe, uuid, o);
        } catch (e) {
          if (plan.elsewhere === null) throw e;
          o.progress(`Starting VM ${uuid} on ${plan.elsewhere.name}, where it ran before...`);
          await xe.vmStart(uuid, { onHost: plan.elsewhere.uuid, timeoutMs: o.startTimeoutMs });
        }
      });
    }
  }
  const finalState = await readWithRetry(() => xe.vmPowerState(uuid));
  const finalArgs = await readWithRetry(() => xe.vmGetArgs(uuid));
  const row = store.getVm(uuid);
  const back = finalState === plan.host!.powerState ||
    (plan.running && finalState === "running");
  const agree = finalArgs !== undefined && row !== null &&
    mergeDeviceArgsSafe(finalArgs, row) === finalArgs;
  if (back && agree) {
    store.closeJournal(journal, notes.length === 0 ? "undone" : "undone, with notes");
  } else notes.push(`run 'vgpu-admin recover --vm-uuid=${uuid}' to finish putting it back`);
  const rowText = row === null
    ? "not registered"
    : `vGPU pool ${row.pool}, priority ${priorityName(row.priority)}, VM ID ${row.vmId}`;
  const argsText = finalArgs === undefined ? "unknown" : finalArgs === null ? "(none)" : finalArgs;
  const restored = notes.length === 0 ? "Everything was put back. " : `${notes.join("; ")}. `;
  return `${restored}VM ${uuid} is now ${
    finalState ?? "in an unknown power state"
  } with args: ${argsText}; database: ${rowText}`;
}

function mergeDeviceArgsSafe(args: string | null, c: VgpuConfig): string | null {
  try {
    return mergeDeviceArgs(args, c);
  } catch {
    return null;
  }
}

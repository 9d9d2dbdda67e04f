// set-pool, set-priority, set-vm-id, update-vm: the reconfiguration protocol of design.md §5.
// plan (lock, validate, read the host) → the command confirms → re-check → apply (journal, stop,
// commit, write, start), with compensating writes when a step after the journal fails or a
// signal arrives. No database transaction is ever held across an xe call: the VM's own start
// hook reads the database during vm-start.
import { mergeDeviceArgs, sameConfig } from "../domain/device-args.ts";
import type { Clock } from "../domain/clock.ts";
import {
  BusyError,
  causeOf,
  NotFoundError,
  OperationFailedError,
  PowerStateRefusedError,
  VgpuError,
  XeTimeoutError,
} from "../domain/errors.ts";
import type { ForwardStep, JournalEntry } from "../domain/journal.ts";
import type { HostVm, PoolId, PowerState, Priority, VgpuConfig, Vm } from "../domain/types.ts";
import { priorityName } from "../domain/types.ts";
import type { Store, VmChange } from "../store/store.ts";
import { vmIdConflict } from "./free-vm-id.ts";
import type { VmLocks } from "../locks/vm-lock.ts";
import type { Xe } from "../xe/client.ts";
import { assertPoolTakesVm } from "./pools.ts";
import { requireHostVm } from "./register.ts";
import { claimVms } from "./vm-claim.ts";
import { decideUndo, describeSettled, settleEntry } from "./settle.ts";
import { readWithRetry, setArgsVerified, startConfirmed } from "./xe-write.ts";

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
  /** The signal that interrupted the run (SIGINT, SIGTERM, SIGHUP, SIGQUIT), or null. */
  interrupted(): string | null;
  command: string;
  pid: number;
  /** Pool mode: the change reached its commit point (the commit marker, ops/pool-change.ts). */
  committed?: () => Promise<void>;
  clock: Clock;
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

/** The database refused a journal step (busy, full): the run stops there and is undone. */
class JournalRefused extends VgpuError {}

/** Where the forward path was when it failed (typed: the undo never reads prose). */
type Phase = "stopping" | "reading-args" | "saving" | "writing-args" | "starting" | "closing";

const PHASE_TEXT: Record<Phase, string> = {
  stopping: "shutting down the VM",
  "reading-args": "reading the VM's args",
  saving: "saving the new configuration",
  "writing-args": "writing the VM's args",
  starting: "starting the VM",
  closing: "closing the journal entry",
};

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
  const state = await readWithRetry(() => xe.vmPowerState(uuid), o.clock).catch(() => undefined);
  if (state === "halted") {
    o.progress("The clean shutdown completed after the wait ended.");
    return { late: true };
  }
  // Only a shutdown whose answer never came may still halt the VM later (issue 18 B5).
  let pending = cleanError instanceof XeTimeoutError;
  if (o.forceShutdown && o.interrupted() === null) {
    o.progress(`Clean shutdown failed (${cleanError.message}); forcing a hard shutdown...`);
    try {
      await xe.vmShutdown(uuid, { force: true, timeoutMs: o.shutdownTimeoutMs });
      return { late: false };
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      const now = await readWithRetry(() => xe.vmPowerState(uuid), o.clock).catch(() => undefined);
      if (now === "halted") return { late: false };
      pending ||= e instanceof XeTimeoutError;
      throw new StopFailed(
        `VM ${uuid} could not be shut down (${e.message}); nothing was changed and it is still ${
          state ?? "in an unknown power state"
        }`,
        pending,
      );
    }
  }
  throw new StopFailed(
    `VM ${uuid} did not shut down (${cleanError.message}); nothing was changed and it is still ${
      state ?? "in an unknown power state"
    }. ` +
      (pending
        ? `Its clean shutdown may still complete later: 'vgpu-admin recover --vm-uuid=${uuid}' then starts it again; `
        : "") +
      `retry with a longer --shutdown-timeout or with --force-shutdown`,
    pending,
  );
}

/** The VM did not stop: nothing was changed; `pending`: a shutdown task may still run in xapi. */
class StopFailed extends OperationFailedError {
  constructor(message: string, readonly pending: boolean) {
    super(message);
  }
}

/** Steps 4–8: journal, stop, commit, write args, start; on failure or signal, undo and report. */
export async function applyReconfigure(
  store: Store,
  xe: Xe,
  plan: ReconfigurePlan,
  o: ApplyOptions,
): Promise<ApplyResult> {
  const uuid = plan.vm.vmUuid;
  const host = plan.host!;
  // The entry lives in memory too: the undo must not depend on reading the database back.
  const entry: JournalEntry = {
    id: 0,
    vmUuid: uuid,
    command: o.command,
    actor: "",
    pid: o.pid,
    startedAt: o.clock.now().toISOString(),
    step: "planned",
    undoFrom: null,
    original: {
      row: config(plan.vm),
      args: host.deviceModelArgs,
      power: plan.running ? "running" : host.powerState,
    },
    target: { row: plan.next, args: plan.targetArgs },
  };
  // Nothing has changed yet: a database that refuses this write fails the command as it is.
  entry.id = store.transaction(() => {
    if (plan.inherited !== null) {
      store.closeJournal(plan.inherited.id, `taken over by ${o.command} (pid ${o.pid})`);
    }
    return store.openJournal(entry);
  });
  const advance = (step: ForwardStep) => {
    try {
      store.advanceJournal(entry.id, step);
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      // only the cause: the store's own advice ("nothing was changed …") is not true mid-change
      throw new JournalRefused(`the journal could not record the step ${step} (${causeOf(e)})`);
    }
    entry.step = step;
  };
  const forward = () => {
    const sig = o.interrupted();
    if (sig !== null) throw new Interrupted(`interrupted by ${sig}`);
  };
  let change: VmChange | null = null;
  let argsBefore: string | null = host.deviceModelArgs;
  let argsAfter = plan.targetArgs ?? "";
  let late = false;
  let phase: Phase = "stopping";
  try {
    if (host.powerState === "running") {
      forward();
      advance("stopping");
      late = (await stopVm(xe, uuid, o)).late;
      advance("stopped");
    }
    phase = "reading-args";
    forward();
    const read = await xe.vmGetArgs(uuid);
    argsAfter = mergeDeviceArgs(read, plan.next);
    if (read !== argsBefore) {
      argsBefore = read;
      store.advanceJournal(entry.id, entry.step as ForwardStep, {
        original: argsBefore,
        target: argsAfter,
      });
      entry.original = { ...entry.original, args: argsBefore };
      entry.target = { ...entry.target, args: argsAfter };
    }
    phase = "saving";
    forward();
    change = store.transaction(() => {
      const c = store.updateVm(uuid, plan.next, undefined, plan.vm);
      store.advanceJournal(entry.id, "row-written");
      return c;
    });
    entry.step = "row-written";
    phase = "writing-args";
    forward();
    if (argsAfter !== argsBefore) await setArgsVerified(xe, uuid, argsAfter, o.clock);
    advance("args-written");
    await o.committed?.();
    // Row and args both hold the change now: a signal from here on finishes it (§5 step 9).
    if (plan.running) {
      phase = "starting";
      advance("starting");
      o.progress(`Starting VM ${uuid}...`);
      if (
        await startConfirmed(
          xe,
          uuid,
          { onHost: o.localHost, timeoutMs: o.startTimeoutMs },
          o.clock,
        )
      ) {
        o.progress("The VM started although xe's answer was lost.");
      }
    }
    phase = "closing";
    store.transaction(() => {
      // It booted with the args just written: whatever stale start was recorded is over.
      if (plan.running) store.clearStaleRun(uuid);
      store.closeJournal(entry.id, "applied");
    });
    return applied(change!, argsBefore, argsAfter, plan, late, o.interrupted());
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    if (e instanceof StopFailed) {
      // Nothing changed. A shutdown whose answer never came goes on in xapi (xe-reference.md
      // "When the client goes away") and may halt the VM later: the entry stays open, so every
      // command shows it and `recover` starts the VM again if it does go down. An answered
      // failure leaves nothing pending: the entry closes.
      if (!e.pending) {
        try {
          store.closeJournal(entry.id, "not changed: the VM did not shut down");
        } catch (c) {
          if (!(c instanceof VgpuError)) throw c;
        }
      }
      throw e;
    }
    const what = e instanceof Interrupted
      ? `${e.message} before ${PHASE_TEXT[phase]}`
      : e instanceof JournalRefused
      ? e.message
      : `${PHASE_TEXT[phase]} failed: ${causeOf(e)}`;
    // Everything was applied and only the journal could not be closed: finish, never undo.
    const finishing = phase === "closing";
    if (!finishing) decideUndo(entry);
    const settled = await settleEntry(store, xe, entry, {
      clock: o.clock,
      settleMs: 0,
      startTimeoutMs: o.startTimeoutMs,
      localHost: o.localHost,
      elsewhere: plan.elsewhere,
      progress: o.progress,
      change,
    });
    if (finishing && settled.outcome === "finished") {
      return applied(change!, argsBefore, argsAfter, plan, late, o.interrupted());
    }
    throw new OperationFailedError(`${what}. ${describeSettled(uuid, settled, what)}`);
  }
}

function applied(
  change: VmChange,
  argsBefore: string | null,
  argsAfter: string,
  plan: ReconfigurePlan,
  late: boolean,
  sig: string | null,
): ApplyResult {
  return {
    vm: change.after!,
    argsBefore,
    argsAfter,
    restarted: plan.running,
    lateShutdown: late,
    finishedAfter: sig,
  };
}

function config(v: VgpuConfig): VgpuConfig {
  return { pool: v.pool, priority: v.priority, vmId: v.vmId };
}

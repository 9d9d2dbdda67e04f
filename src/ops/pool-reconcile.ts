// `pool reconcile` (design.md §8): rebuilds the pool's claims from the VMs' args and this host's
// database after a master failover, a rollback (a master crash without HA or a redo log loses up
// to ~5 minutes of writes) or a wiped other-config. It changes only VMs this host registered,
// and reports everything it cannot settle with the command that does.
import { mergeDeviceArgs, parseDeviceArgs, sameConfig } from "../domain/device-args.ts";
import {
  claimKey,
  MARKER_KEY,
  parseTicket,
  POOL_FORMAT,
  problemText,
  type Ticket,
  TICKET_KEY,
} from "../domain/pool.ts";
import { locallyRegistered, readPoolState } from "../store/pool-cache.ts";
import type { Store } from "../store/store.ts";
import type { VmLocks } from "../locks/vm-lock.ts";
import type { Xe } from "../xe/client.ts";
import { XePool } from "../xe/pool.ts";
import {
  acquireTicket,
  assertWritableFormat,
  type PoolSnapshot,
  readSnapshot,
  refreshCache,
  releaseTicket,
  ticketFor,
  unreachable,
} from "./pool-mode.ts";
import { setArgsVerified } from "./xe-write.ts";

export type ReconcileAction =
  | { kind: "add-marker" }
  | { kind: "claim"; vmUuid: string; vmId: number; name: string }
  | { kind: "write-args"; vmUuid: string; vmId: number; name: string; args: string; claim: boolean }
  | { kind: "release"; vmUuid: string; vmId: number; why: string }
  | { kind: "drop-ticket"; vmUuid: string; ticket: string; holder: string };

export interface Unsettled {
  text: string;
  fix: string;
}

export interface ReconcilePlan {
  actions: ReconcileAction[];
  unsettled: Unsettled[];
}

function stubOf(args: string | null) {
  const stubs = parseDeviceArgs(args).stubs;
  return stubs.length === 1 ? stubs[0].config : null;
}

/** What reconcile would do, from one read of the pool and this host's database (pure reads). */
export function planReconcile(
  store: Store,
  snap: PoolSnapshot,
  locks: VmLocks,
  localHost: string | null,
): ReconcilePlan {
  const actions: ReconcileAction[] = [];
  const unsettled: Unsettled[] = [];
  if (snap.format === null) actions.push({ kind: "add-marker" });
  // tickets left by processes of this host that are gone (nobody holds the VM's lock here)
  for (const vm of snap.vms) {
    const held = vm.otherConfig.get(TICKET_KEY);
    const t = held === undefined ? null : parseTicket(held);
    if (held === undefined || t === null || t.host !== localHost || !locks.isFree(vm.uuid)) {
      continue;
    }
    actions.push({
      kind: "drop-ticket",
      vmUuid: vm.uuid,
      ticket: held,
      holder: `${t.command}, pid ${t.pid}`,
    });
  }
  const mine = locallyRegistered(store);
  const open = new Set(store.openJournalEntries().map((e) => e.vmUuid));
  const rows = store.listVms().filter((v) => mine.has(v.vmUuid));
  const handled = new Set<string>();
  const taken = new Map(snap.claims); // vm_id → uuid, as the plan will leave it
  for (const r of rows) {
    handled.add(r.vmUuid);
    const name = r.vmName ?? "unnamed";
    if (open.has(r.vmUuid)) {
      unsettled.push({
        text: `VM ${r.vmUuid} (${name}) has an interrupted operation on this host`,
        fix: `vgpu-admin recover --vm-uuid=${r.vmUuid}, then pool reconcile again`,
      });
      continue;
    }
    const vm = snap.vms.find((v) => v.uuid === r.vmUuid);
    const claimsOfVm = [...snap.claims].filter(([, u]) => u === r.vmUuid).map(([n]) => n);
    if (vm === undefined) {
      for (const n of claimsOfVm) {
        actions.push({
          kind: "release",
          vmUuid: r.vmUuid,
          vmId: n,
          why: "the VM no longer exists",
        });
      }
      unsettled.push({
        text: `VM ${r.vmUuid} (${name}) is registered here but no longer exists in the pool`,
        fix: `vgpu-admin remove-vm --vm-uuid=${r.vmUuid}`,
      });
      continue;
    }
    const holder = snap.claims.get(r.vmId);
    if (holder !== undefined && holder !== r.vmUuid) {
      unsettled.push({
        text:
          `VM ID ${r.vmId} of VM ${r.vmUuid} (${name}, this host's database) is claimed by VM ${holder}`,
        fix: `vgpu-admin set-vm-id --vm-uuid=${r.vmUuid} --vm-id=<a free id>`,
      });
      continue;
    }
    const carried = stubOf(vm.deviceModelArgs);
    if (carried !== null && carried.vmId !== r.vmId) {
      unsettled.push({
        text:
          `VM ${r.vmUuid} (${name}) carries vm_id ${carried.vmId} in its args, this host's database says ${r.vmId}`,
        fix:
          `vgpu-admin sync (writes ${r.vmId}) or vgpu-admin set-vm-id --vm-uuid=${r.vmUuid} --vm-id=${carried.vmId}`,
      });
      continue;
    }
    const claim = holder === undefined;
    if (carried === null || !sameConfig(carried, r)) {
      // a claim whose args never got written (a crash, a rollback): this host's row decides
      actions.push({
        kind: "write-args",
        vmUuid: r.vmUuid,
        vmId: r.vmId,
        name,
        args: mergeDeviceArgs(vm.deviceModelArgs, r),
        claim,
      });
    } else if (claim) {
      actions.push({ kind: "claim", vmUuid: r.vmUuid, vmId: r.vmId, name });
    }
    taken.set(r.vmId, r.vmUuid);
    for (const n of claimsOfVm) {
      if (n !== r.vmId) {
        actions.push({
          kind: "release",
          vmUuid: r.vmUuid,
          vmId: n,
          why: `its args carry vm_id ${r.vmId}`,
        });
      }
    }
  }
  // the rest of the pool: claims of VMs that are gone go (no VM changes); the others are reported
  for (const [n, u] of snap.claims) {
    if (handled.has(u)) continue;
    if (!snap.vms.some((v) => v.uuid === u)) {
      actions.push({ kind: "release", vmUuid: u, vmId: n, why: "the VM no longer exists" });
    }
  }
  for (const p of snap.registry.problems) {
    if (handled.has(p.vmUuid) || p.kind === "claim-vm-gone") continue;
    if (p.kind === "duplicate-vm-id" && (handled.has(p.other ?? ""))) continue;
    const fix = p.kind === "claim-without-args"
      ? `on the host that registered it: vgpu-admin pool reconcile; if none did (a registration died before writing its row): vgpu-admin register-vm --vm-uuid=${p.vmUuid} (it reuses the claim)`
      : p.fix;
    unsettled.push({ text: problemText(p), fix });
  }
  return { actions, unsettled };
}

export interface ReconcileInput {
  store: Store;
  xe: Xe;
  locks: VmLocks;
  now: () => Date;
  host: string | null;
  command: string;
}

/** Reads the pool for reconcile; the master out of reach → nothing changed. */
export async function readReconcile(
  input: ReconcileInput,
): Promise<{ plan: ReconcilePlan; snap: PoolSnapshot; xp: XePool }> {
  const state = readPoolState(input.store);
  const xp = new XePool(input.xe);
  let snap: PoolSnapshot;
  try {
    snap = await readSnapshot(xp);
  } catch (e) {
    throw unreachable(state, e);
  }
  assertWritableFormat(snap.format);
  return { plan: planReconcile(input.store, snap, input.locks, input.host), snap, xp };
}

/** One line per action, as done or as it would be done. */
export function actionText(a: ReconcileAction): string {
  switch (a.kind) {
    case "add-marker":
      return `add the pool-mode marker (${MARKER_KEY}=${POOL_FORMAT})`;
    case "claim":
      return `claim vm_id ${a.vmId} for VM ${a.vmUuid} (${a.name}): its args and this host's database carry it`;
    case "write-args":
      return `write the args of VM ${a.vmUuid} (${a.name}) from this host's database: ${a.args}${
        a.claim ? `; claim vm_id ${a.vmId}` : ""
      }`;
    case "release":
      return `release vm_id ${a.vmId} of VM ${a.vmUuid}: ${a.why}`;
    case "drop-ticket":
      return `remove the ticket of VM ${a.vmUuid} left by ${a.holder} of this host, which is gone`;
  }
}

/** Applies the plan; each VM it writes is changed under this host's lock and the VM's ticket. */
export async function applyReconcile(
  input: ReconcileInput,
  xp: XePool,
  snap: PoolSnapshot,
  plan: ReconcilePlan,
  masterName: string,
): Promise<{ done: string[]; failed: Unsettled[] }> {
  const pool = snap.record.uuid;
  const done: string[] = [];
  const failed: Unsettled[] = [];
  let hostName = "this host";
  try {
    hostName = Deno.hostname();
  } catch { /* only for messages */ }
  const me: Ticket = ticketFor(
    input.host ?? "unknown",
    hostName,
    Deno.pid,
    input.command,
    input.now(),
  );
  const claim = async (vmId: number, vmUuid: string): Promise<boolean> => {
    if (await xp.add("pool", pool, claimKey(vmId), vmUuid) === "added") return true;
    return await xp.get("pool", pool, claimKey(vmId)) === vmUuid;
  };
  for (const a of plan.actions) {
    try {
      if (a.kind === "add-marker") {
        await xp.add("pool", pool, MARKER_KEY, String(POOL_FORMAT));
      } else if (a.kind === "claim") {
        if (!(await claim(a.vmId, a.vmUuid))) {
          throw new Error(`vm_id ${a.vmId} was claimed by another VM meanwhile`);
        }
      } else if (a.kind === "release") {
        await xp.removeIfOurs("pool", pool, claimKey(a.vmId), a.vmUuid);
      } else if (a.kind === "drop-ticket") {
        input.locks.acquire([a.vmUuid]); // the holder is gone: nobody of this host changes it now
        await releaseTicket(xp, a.vmUuid, a.ticket);
      } else {
        input.locks.acquire([a.vmUuid]);
        const ticket = await acquireTicket(xp, a.vmUuid, me);
        try {
          if (a.claim && !(await claim(a.vmId, a.vmUuid))) {
            throw new Error(`vm_id ${a.vmId} was claimed by another VM meanwhile`);
          }
          await setArgsVerified(input.xe, a.vmUuid, a.args);
          const vm = snap.vms.find((v) => v.uuid === a.vmUuid);
          if (vm !== undefined && vm.powerState !== "halted") {
            input.store.markStaleRun(a.vmUuid, "args rewritten by pool reconcile");
          }
        } finally {
          if (ticket !== null) await releaseTicket(xp, a.vmUuid, ticket).catch(() => {});
        }
      }
      done.push(actionText(a));
    } catch (e) {
      failed.push({
        text: `could not ${actionText(a)}: ${e instanceof Error ? e.message : String(e)}`,
        fix: "vgpu-admin pool reconcile again",
      });
    }
  }
  refreshCache(input.store, await readSnapshot(xp), masterName, input.now());
  return { done, failed };
}

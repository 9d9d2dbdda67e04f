// `recover` in pool mode (design.md §8). This host's interrupted operations are recovered as in
// standalone mode, then their pool-wide traces settled (the dead process's ticket, a claim the VM
// no longer carries). `recover --take-over` ends an operation of a DEAD host (host-metrics-live
// false) from this one, from what xapi holds: its commit marker present → the change is finished
// (the args carry it), absent → undone (the args get back the configuration its ticket names);
// the VM is started again if its ticket says it was running. When the dead host returns, its own
// `recover` sees its ticket gone and closes its journal entry: its database follows the pool.
import { mergeDeviceArgs, parseDeviceArgs, sameConfig } from "../domain/device-args.ts";
import { VgpuError } from "../domain/errors.ts";
import {
  claimKey,
  COMMIT_KEY,
  parseCommitTarget,
  parseTicket,
  type PoolVm,
  type Ticket,
  TICKET_KEY,
} from "../domain/pool.ts";
import type { JournalEntry } from "../domain/journal.ts";
import type { VgpuConfig } from "../domain/types.ts";
import { readPoolState } from "../store/pool-cache.ts";
import type { Store } from "../store/store.ts";
import type { VmLocks } from "../locks/vm-lock.ts";
import type { Xe } from "../xe/client.ts";
import { XePool } from "../xe/pool.ts";
import {
  acquireTicket,
  readSnapshot,
  refreshCache,
  releaseTicket,
  ticketFor,
  unreachable,
} from "./pool-mode.ts";
import { setArgsVerified } from "./xe-write.ts";
import { allEnded } from "../xe/all-ended.ts";

export interface TakeoverItem {
  vmUuid: string;
  name: string;
  ticket: string;
  holder: Ticket;
  holderName: string;
  kind: "finish" | "undo" | "release";
  /** The configuration the VM ends with (null: left as it is). */
  config: VgpuConfig | null;
  /** Args to write, or null. */
  args: string | null;
  start: boolean;
  /** Claims of this VM to release (not the vm_id it ends with). */
  release: number[];
  actions: string[];
}

export interface TakeoverPlan {
  items: TakeoverItem[];
  /** Tickets held by hosts that are alive: not taken over. */
  alive: string[];
  masterName: string;
}

function stubOf(args: string | null) {
  const stubs = parseDeviceArgs(args).stubs;
  return stubs.length === 1 ? stubs[0].config : null;
}

const show = (c: VgpuConfig) => `vGPU pool ${c.pool}, priority ${c.priority}, VM ID ${c.vmId}`;

/** Reads the pool and plans the take-over of every ticket held by a dead host. */
export async function planTakeover(
  store: Store,
  xe: Xe,
  localHost: string | null,
  vmUuid?: string,
): Promise<{ plan: TakeoverPlan; xp: XePool }> {
  const state = readPoolState(store);
  if (state === null) {
    throw new VgpuError("recover --take-over is for pool mode: this host is standalone");
  }
  const xp = new XePool(xe);
  let snap, hosts;
  try {
    [snap, hosts] = await allEnded([readSnapshot(xp), xp.hostList()]);
  } catch (e) {
    throw unreachable(state, e);
  }
  const items: TakeoverItem[] = [];
  const alive: string[] = [];
  for (const vm of snap.vms) {
    if (vmUuid !== undefined && vm.uuid !== vmUuid) continue;
    const held = vm.otherConfig.get(TICKET_KEY);
    const t = held === undefined ? null : parseTicket(held);
    if (held === undefined || t === null || t.host === localHost) continue;
    const host = hosts.find((h) => h.uuid === t.host);
    const holderName = host?.nameLabel ?? t.hostName;
    if (host !== undefined && host.live) {
      alive.push(
        `VM ${vm.uuid}: ${t.command} (pid ${t.pid}) on ${holderName}, which is alive: not taken over`,
      );
      continue;
    }
    items.push(planOne(vm, held, t, holderName, [...snap.claims]));
  }
  return { plan: { items, alive, masterName: state.masterName }, xp };
}

function planOne(
  vm: PoolVm,
  held: string,
  t: Ticket,
  holderName: string,
  claims: [number, string][],
): TakeoverItem {
  const commit = vm.otherConfig.get(COMMIT_KEY);
  const target = commit === undefined ? undefined : parseCommitTarget(commit);
  const carried = stubOf(vm.deviceModelArgs);
  const kind = target !== undefined ? "finish" : t.orig !== undefined ? "undo" : "release";
  const config = kind === "finish" ? target! : kind === "undo" ? t.orig! : null;
  const actions: string[] = [];
  let args: string | null = null;
  if (config !== null && (carried === null || !sameConfig(carried, config))) {
    args = mergeDeviceArgs(vm.deviceModelArgs, config);
    actions.push(`write its args: ${show(config)}`);
  }
  const start = t.power === "running" && vm.powerState === "halted";
  if (start) actions.push("start it on this host (it was running)");
  const mine = claims.filter(([, u]) => u === vm.uuid).map(([n]) => n);
  const release = config === null ? [] : mine.filter((n) => n !== config.vmId);
  for (const n of release) actions.push(`release vm_id ${n} (the VM ends with ${config!.vmId})`);
  if (kind === "release") {
    actions.push(
      `leave its args and claims as they are (${t.command} names no configuration to go back to; vgpu-admin pool status shows what is left)`,
    );
  }
  actions.push(`remove the ticket of ${holderName} (and its commit marker)`);
  return {
    vmUuid: vm.uuid,
    name: vm.nameLabel || "unnamed",
    ticket: held,
    holder: t,
    holderName,
    kind,
    config,
    args,
    start,
    release,
    actions,
  };
}

/** Carries out the take-over of each item; returns one problem line per item that failed. */
export async function applyTakeover(
  store: Store,
  xe: Xe,
  xp: XePool,
  plan: TakeoverPlan,
  o: {
    locks: VmLocks;
    localHost: string | null;
    command: string;
    now: () => Date;
    startTimeoutMs: number;
  },
): Promise<string[]> {
  const problems: string[] = [];
  let hostName = "this host";
  try {
    hostName = Deno.hostname();
  } catch { /* only for messages */ }
  const pool = (await xp.poolRecord()).uuid;
  for (const it of plan.items) {
    let mine: string | null = null;
    try {
      o.locks.acquire([it.vmUuid]);
      // the dead host's ticket goes first: when it returns, its recover sees it was taken over
      const was = await xp.removeIfOurs("vm", it.vmUuid, TICKET_KEY, it.ticket);
      if (was !== it.ticket) throw new VgpuError("its ticket changed meanwhile: run recover again");
      mine = await acquireTicket(
        xp,
        it.vmUuid,
        ticketFor(o.localHost ?? "unknown", hostName, Deno.pid, o.command, o.now()),
      );
      const commit = await xp.get("vm", it.vmUuid, COMMIT_KEY);
      if (commit !== null) await xp.removeIfOurs("vm", it.vmUuid, COMMIT_KEY, commit);
      if (it.args !== null) await setArgsVerified(xe, it.vmUuid, it.args);
      if (it.config !== null) {
        const key = claimKey(it.config.vmId);
        if (await xp.add("pool", pool, key, it.vmUuid) === "exists") {
          const holder = await xp.get("pool", pool, key);
          if (holder !== it.vmUuid) {
            problems.push(`VM ${it.vmUuid}: vm_id ${it.config.vmId} is claimed by VM ${holder}`);
          }
        }
      }
      for (const n of it.release) await xp.removeIfOurs("pool", pool, claimKey(n), it.vmUuid);
      if (it.start) {
        await xe.vmStart(it.vmUuid, { onHost: o.localHost, timeoutMs: o.startTimeoutMs });
      }
    } catch (e) {
      problems.push(`VM ${it.vmUuid}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      if (mine !== null) await releaseTicket(xp, it.vmUuid, mine).catch(() => {});
    }
  }
  refreshCache(store, await readSnapshot(xp), plan.masterName, o.now());
  return problems;
}

/**
 * Before this host's own recover in pool mode: an open entry whose VM no longer carries this
 * host's ticket of that pid was taken over by another host (or its ticket was dropped): the
 * entry is closed, and this host's database follows the pool at the next refresh. Returns the
 * entries closed. Master out of reach: nothing (recover then works as standalone).
 */
export async function closeTakenOver(
  store: Store,
  xe: Xe,
  entries: readonly JournalEntry[],
  localHost: string | null,
): Promise<JournalEntry[]> {
  if (readPoolState(store) === null || entries.length === 0) return [];
  const xp = new XePool(xe);
  const closed: JournalEntry[] = [];
  for (const e of entries) {
    let held: string | null;
    try {
      held = await xp.get("vm", e.vmUuid, TICKET_KEY);
    } catch {
      return closed;
    }
    const t = held === null ? null : parseTicket(held);
    if (t !== null && t.host === localHost && t.pid === e.pid) continue;
    store.closeJournal(e.id, "taken over by another host (pool mode)");
    closed.push(e);
  }
  return closed;
}

/**
 * After this host's own recover in pool mode: the dead process's ticket goes, and a claim of the
 * VM for a vm_id its row no longer holds (an undone set-vm-id) is released.
 */
export async function settleAfterRecover(
  store: Store,
  xe: Xe,
  vmUuids: readonly string[],
  localHost: string | null,
): Promise<void> {
  if (readPoolState(store) === null || vmUuids.length === 0) return;
  const xp = new XePool(xe);
  const snap = await readSnapshot(xp);
  for (const uuid of vmUuids) {
    const vm = snap.vms.find((v) => v.uuid === uuid);
    const held = vm?.otherConfig.get(TICKET_KEY);
    const t = held === undefined ? null : parseTicket(held);
    if (held !== undefined && t !== null && t.host === localHost && t.pid !== Deno.pid) {
      await releaseTicket(xp, uuid, held);
    }
    const row = store.getVm(uuid);
    if (row === null) continue;
    for (const [n, u] of snap.claims) {
      if (u === uuid && n !== row.vmId) {
        await xp.removeIfOurs("pool", snap.record.uuid, claimKey(n), uuid);
      }
    }
  }
}

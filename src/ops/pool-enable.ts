// `pool enable` (design.md §8): turn pool mode on for the whole XCP-ng pool, or join it from
// another host. The hosts' databases are merged through xapi: this host's registrations are
// claimed; a vm_id used by two VMs is a collision, named with its fix and never renumbered.
import denoJson from "../../deno.json" with { type: "json" };
import { parseDeviceArgs } from "../domain/device-args.ts";
import { OperationFailedError } from "../domain/errors.ts";
import {
  claimKey,
  lowestFree,
  MARKER_KEY,
  MARKER_OFF,
  MEMBER_KEY,
  POOL_FORMAT,
} from "../domain/pool.ts";
import type { PoolId, Priority, Vm } from "../domain/types.ts";
import type { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import { hostName, type PoolHost, where, XePool } from "../xe/pool.ts";
export { hostName, where };
import { hasMarker, HOOK_PATHS, readIfPresent, underRoot } from "./install.ts";
import {
  assertWritableFormat,
  type PoolSnapshot,
  readSnapshot,
  refreshCache,
} from "./pool-mode.ts";
import { allEnded } from "../xe/all-ended.ts";
import type { RedoLog } from "../xe/xapi-local.ts";

/** One registration as enable sees it: where it comes from and what it holds. */
export interface SeenRegistration {
  vmUuid: string;
  name: string;
  vmId: number;
  pool: PoolId | null;
  priority: Priority | null;
}

export interface Collision {
  vmId: number;
  first: SeenRegistration & { source: string };
  second: SeenRegistration & { source: string };
  /** The command that settles it, on the host whose database registered `second`. */
  fix: string;
}

export interface EnablePlan {
  poolUuid: string;
  masterName: string;
  /** The format already on the pool; null: pool mode is off (this host turns it on). */
  format: number | null;
  thisHost: string;
  /** This host's database. */
  local: SeenRegistration[];
  /** Claims already in the pool (hosts that joined before). */
  claimed: SeenRegistration[];
  /** VMs carrying vgpu-stub args that are neither claimed nor in this database, by host. */
  elsewhere: { hostName: string; vms: SeenRegistration[] }[];
  collisions: Collision[];
  /** This host's registrations that get a claim. */
  toClaim: SeenRegistration[];
  haEnabled: boolean;
  redoLog: RedoLog;
}

function seenRow(v: Vm): SeenRegistration {
  return {
    vmUuid: v.vmUuid,
    name: v.vmName ?? "unnamed",
    vmId: v.vmId,
    pool: v.pool,
    priority: v.priority,
  };
}

/** This host's member key: the vgpu-admin version and the hooks installed, as xapi can tell. */
export function memberValue(hooks: readonly string[]): string {
  return `v=${denoJson.version} hooks=${hooks.join(",") || "none"}`;
}

/** The hook events whose vgpu-admin script is in /etc/xapi.d on this host (under `root`). */
export function installedHooks(root: string | null = null): string[] {
  return HOOK_PATHS.filter(({ path }) => {
    try {
      const text = readIfPresent(underRoot(root, path));
      return text !== null && hasMarker(text);
    } catch {
      return false;
    }
  }).map(({ event }) => event);
}

/** The merge, computed from this database and one read of the pool. */
export function planEnable(
  store: Store,
  snap: PoolSnapshot,
  hosts: readonly PoolHost[],
  localHost: string | null,
  redoLog: () => RedoLog,
): EnablePlan {
  const thisHost = hostName(hosts, localHost);
  const local = store.listVms().map(seenRow);
  const localUuids = new Set(local.map((r) => r.vmUuid));
  const nameOf = (u: string) => snap.vms.find((v) => v.uuid === u)?.nameLabel || "unnamed";
  const claimed = [...snap.claims].map(([vmId, vmUuid]) => {
    const e = snap.registry.entries.find((x) => x.vmId === vmId);
    return {
      vmUuid,
      name: nameOf(vmUuid),
      vmId,
      pool: e?.pool ?? null,
      priority: e?.priority ?? null,
    };
  });
  const claimedUuids = new Set(claimed.map((c) => c.vmUuid));
  const byHost = new Map<string, SeenRegistration[]>();
  for (const vm of snap.vms) {
    if (localUuids.has(vm.uuid) || claimedUuids.has(vm.uuid)) continue;
    const stubs = parseDeviceArgs(vm.deviceModelArgs).stubs;
    const cfg = stubs.length === 1 ? stubs[0].config : null;
    if (cfg === null) continue;
    const h = hostName(hosts, vm.residentOn);
    byHost.set(h, [...(byHost.get(h) ?? []), {
      vmUuid: vm.uuid,
      name: vm.nameLabel || "unnamed",
      vmId: cfg.vmId,
      pool: cfg.pool,
      priority: cfg.priority,
    }]);
  }
  const elsewhere = [...byHost].sort((a, b) => a[0].localeCompare(b[0])).map(([hostName, vms]) => ({
    hostName,
    vms: vms.sort((a, b) => a.vmId - b.vmId),
  }));
  // every vm_id with the VMs that use it, first come first: claims, this database, other args
  const users = new Map<number, (SeenRegistration & { source: string })[]>();
  const note = (r: SeenRegistration, source: string) => {
    const list = users.get(r.vmId) ?? [];
    if (!list.some((x) => x.vmUuid === r.vmUuid)) list.push({ ...r, source });
    users.set(r.vmId, list);
  };
  for (const c of claimed) note(c, "claimed in the pool");
  for (const r of local) note(r, `database of ${thisHost}`);
  for (const g of elsewhere) for (const v of g.vms) note(v, `args, ${where(g.hostName)}`);
  const used = new Set(users.keys());
  const collisions: Collision[] = [];
  for (const [vmId, list] of [...users].sort((a, b) => a[0] - b[0])) {
    for (const second of list.slice(1)) {
      const free = lowestFree(used);
      used.add(free);
      collisions.push({
        vmId,
        first: list[0],
        second,
        fix: `vgpu-admin set-vm-id --vm-uuid=${second.vmUuid} --vm-id=${free}`,
      });
    }
  }
  // one VM with one vm_id in the pool and another in this database (registered on two hosts)
  for (const r of local) {
    for (const c of claimed) {
      if (c.vmUuid !== r.vmUuid || c.vmId === r.vmId) continue;
      collisions.push({
        vmId: r.vmId,
        first: { ...c, source: "claimed in the pool" },
        second: { ...r, source: `database of ${thisHost}` },
        fix: `vgpu-admin set-vm-id --vm-uuid=${r.vmUuid} --vm-id=${c.vmId}`,
      });
    }
  }
  const clashing = new Set(collisions.flatMap((c) => [c.first.vmUuid, c.second.vmUuid]));
  return {
    poolUuid: snap.record.uuid,
    masterName: hostName(hosts, snap.record.master),
    format: snap.format === 0 ? null : snap.format,
    thisHost,
    local,
    claimed,
    elsewhere,
    collisions,
    toClaim: local.filter((r) => snap.claims.get(r.vmId) !== r.vmUuid && !clashing.has(r.vmUuid)),
    haEnabled: snap.record.haEnabled,
    redoLog: redoLog(),
  };
}

/** Reads the pool (pool-list, vm-list, host-list) and plans the merge. */
export async function readEnablePlan(
  store: Store,
  xe: Xe,
  localHost: string | null,
  redoLog: () => RedoLog,
): Promise<{ plan: EnablePlan; snap: PoolSnapshot; hosts: PoolHost[]; xp: XePool }> {
  const xp = new XePool(xe);
  const [snap, hosts] = await allEnded([readSnapshot(xp), xp.hostList()]);
  assertWritableFormat(snap.format);
  return { plan: planEnable(store, snap, hosts, localHost, redoLog), snap, hosts, xp };
}

export interface EnableResult {
  /** True when this host turned pool mode on; false: it joined. */
  turnedOn: boolean;
  claimedNow: number;
}

/**
 * Applies the plan: refuses while any collision remains; adds the marker (atomic), claims this
 * host's registrations, marks this host a member and fills its cache from the pool.
 */
export async function applyEnable(
  store: Store,
  xp: XePool,
  plan: EnablePlan,
  localHost: string | null,
  now: () => Date,
  hookRoot: string | null = null,
): Promise<EnableResult> {
  if (plan.collisions.length > 0) {
    throw new OperationFailedError(
      `${plan.collisions.length} vm_id collision${
        plan.collisions.length === 1 ? "" : "s"
      } in the pool: fix each as shown, on the host whose database registered it, then run pool enable again; nothing was changed`,
    );
  }
  const pool = plan.poolUuid;
  // turned off earlier (`off`): that value goes, then the add is the one atomic switch
  await xp.removeIfOurs("pool", pool, MARKER_KEY, MARKER_OFF);
  const turnedOn = await xp.add("pool", pool, MARKER_KEY, String(POOL_FORMAT)) === "added";
  let claimedNow = 0;
  for (const r of plan.toClaim) {
    if (await xp.add("pool", pool, claimKey(r.vmId), r.vmUuid) === "added") {
      claimedNow++;
      continue;
    }
    const holder = await xp.get("pool", pool, claimKey(r.vmId));
    if (holder !== r.vmUuid) {
      throw new OperationFailedError(
        `VM ID ${r.vmId} was claimed by VM ${holder} while pool enable ran (VM ${r.vmUuid} of this host uses it): run 'vgpu-admin pool enable --dry-run' and settle it with set-vm-id`,
      );
    }
  }
  if (localHost !== null) {
    // what xapi can tell of this host's hooks: those installed when it (re)joined
    const member = memberValue(installedHooks(hookRoot));
    if (await xp.add("host", localHost, MEMBER_KEY, member) === "exists") {
      // an older vgpu-admin's mark: this host's own key, replaced by remove then add
      const old = await xp.get("host", localHost, MEMBER_KEY);
      if (old !== null && old !== member) {
        await xp.removeIfOurs("host", localHost, MEMBER_KEY, old);
        await xp.add("host", localHost, MEMBER_KEY, member);
      }
    }
  }
  const snap = await readSnapshot(xp);
  refreshCache(store, snap, plan.masterName, now());
  return { turnedOn, claimedNow };
}

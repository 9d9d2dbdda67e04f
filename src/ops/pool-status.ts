// `pool status` (design.md §8): pool mode on or off with its format, the master, every host
// (alive, member, VMs per vGPU pool resident there), the pool-wide registry and every
// inconsistency with its fix. Master unreachable: this host's cached registry, under a banner.
import { MEMBER_KEY, type PoolProblem, problemText } from "../domain/pool.ts";
import type { PoolId, Priority } from "../domain/types.ts";
import { cachedNames, type PoolState, readPoolState } from "../store/pool-cache.ts";
import type { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import { hostName, type PoolHost, XePool } from "../xe/pool.ts";
import { readSnapshot } from "./pool-mode.ts";
import { allEnded } from "../xe/all-ended.ts";
import type { RedoLog } from "../xe/xapi-local.ts";

export interface PoolStatusHost {
  uuid: string;
  name: string;
  alive: boolean;
  master: boolean;
  /** This host joined pool mode (its member key), with the vgpu-admin version it named. */
  member: string | null;
  vms: Record<PoolId, number>;
}

export interface PoolStatusEntry {
  vmId: number;
  vmUuid: string;
  name: string;
  pool: PoolId | null;
  priority: Priority | null;
  /** Host name where it runs; null: not running (or unknown in the cache). */
  runsOn: string | null;
}

export interface PoolStatusView {
  /** null when standalone and nothing could be read. */
  on: boolean;
  format: number | null;
  /** This host's database follows pool mode. */
  joined: boolean;
  master: { uuid: string; name: string } | null;
  haEnabled: boolean | null;
  /** null when the pool was not read (the cache is shown). */
  redoLog: RedoLog | null;
  hosts: PoolStatusHost[];
  registry: PoolStatusEntry[];
  problems: { text: string; fix: string; kind: PoolProblem["kind"] }[];
  /** Set when xapi could not be read: the cache shown and why. */
  cached: { masterName: string; refreshedAt: string; reason: string } | null;
}

function cachedView(store: Store, state: PoolState, reason: string): PoolStatusView {
  return {
    on: true,
    format: state.format,
    joined: true,
    master: { uuid: state.master, name: state.masterName },
    haEnabled: null,
    redoLog: null,
    hosts: [],
    registry: store.listVms().sort((a, b) => a.vmId - b.vmId).map((v) => ({
      vmId: v.vmId,
      vmUuid: v.vmUuid,
      name: v.vmName ?? "unnamed",
      pool: v.pool,
      priority: v.priority,
      runsOn: null,
    })),
    problems: [],
    cached: { masterName: state.masterName, refreshedAt: state.refreshedAt, reason },
  };
}

/** Reads the pool in three xe calls (pool-list, vm-list, host-list), or falls back to the cache. */
export async function poolStatus(
  store: Store | null,
  xe: Xe,
  redoLog: () => RedoLog,
): Promise<PoolStatusView> {
  const state = store === null ? null : readPoolState(store);
  const xp = new XePool(xe);
  let snap, hosts: PoolHost[];
  try {
    [snap, hosts] = await allEnded([readSnapshot(xp), xp.hostList()]);
  } catch (e) {
    if (state === null || store === null) throw e;
    return cachedView(store, state, e instanceof Error ? e.message : String(e));
  }
  const master = hosts.find((h) => h.uuid === snap.record.master);
  // shown live: this host's cache is the read commands' to refresh (pool status writes nothing)
  const joined = state !== null && snap.format !== null && snap.format > 0;
  const counts = new Map<string, Record<PoolId, number>>();
  const names = store === null ? new Map<string, string | null>() : cachedNames(store);
  const registry: PoolStatusEntry[] = snap.registry.entries.map((e) => {
    if (e.vm?.residentOn && e.pool !== null) {
      const c = counts.get(e.vm.residentOn) ?? { A: 0, B: 0 };
      c[e.pool]++;
      counts.set(e.vm.residentOn, c);
    }
    return {
      vmId: e.vmId,
      vmUuid: e.vmUuid,
      name: names.get(e.vmUuid) ?? (e.vm?.nameLabel || "unnamed"),
      pool: e.pool,
      priority: e.priority,
      runsOn: e.vm?.residentOn ? hostName(hosts, e.vm.residentOn) : null,
    };
  });
  return {
    on: snap.format !== null && snap.format > 0,
    format: snap.format === 0 ? null : snap.format,
    joined,
    master: { uuid: snap.record.master, name: master?.nameLabel ?? snap.record.master },
    haEnabled: snap.record.haEnabled,
    redoLog: redoLog(),
    hosts: hosts.map((h) => ({
      uuid: h.uuid,
      name: h.nameLabel,
      alive: h.live,
      master: h.uuid === snap.record.master,
      member: h.otherConfig.get(MEMBER_KEY) ?? null,
      vms: counts.get(h.uuid) ?? { A: 0, B: 0 },
    })),
    registry,
    problems: snap.registry.problems.map((p) => ({
      text: problemText(p),
      fix: p.fix,
      kind: p.kind,
    })),
    cached: null,
  };
}

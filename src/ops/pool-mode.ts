// Pool mode's use of xapi (design.md §8): read the pool (two xe calls), refresh this host's cached
// registry, claim and release vm_ids with one atomic `pool-param-add` each, and take a VM's
// pool-wide ticket. Writes go to xapi first, then to this host's database.
import {
  buildRegistry,
  claimKey,
  COMMIT_KEY,
  formatTicket,
  freeAmongLowest,
  markerFormat,
  parseClaims,
  parseTicket,
  POOL_FORMAT,
  type PoolVm,
  type Registry,
  type Ticket,
  TICKET_KEY,
} from "../domain/pool.ts";
import { parseDeviceArgs } from "../domain/device-args.ts";
import {
  BusyError,
  ConflictError,
  OperationFailedError,
  VgpuError,
  XeVmNotFoundError,
} from "../domain/errors.ts";
import { humanTime } from "../domain/time.ts";
import { sanitizeHostName } from "../domain/validate.ts";
import {
  applyRegistry,
  type CachedVm,
  dropStaleRows,
  type PoolState,
  readPoolState,
  writePoolState,
} from "../store/pool-cache.ts";
import type { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import { type PoolRecord, XePool } from "../xe/pool.ts";
import { allEnded } from "../xe/all-ended.ts";

/** The pool as two xe calls show it (design.md §8: a refresh is `pool-list` + `vm-list`). */
export interface PoolSnapshot {
  record: PoolRecord;
  vms: PoolVm[];
  claims: Map<number, string>;
  /** The marker's format; null: absent; 0: turned off (domain/pool.ts markerFormat). */
  format: number | null;
  registry: Registry;
}

/** The master could not be reached: nothing was changed. */
export class MasterUnreachableError extends VgpuError {}

/** How many taken vm_ids a registration tries before giving up (others registering at once). */
export const CLAIM_ATTEMPTS = 64;

export function unreachable(state: PoolState | null, e: unknown): MasterUnreachableError {
  const why = e instanceof Error ? e.message : String(e);
  const master = state === null ? "the pool master" : `the pool master ${state.masterName}`;
  return new MasterUnreachableError(
    `${master} cannot be reached (${why}); nothing was changed: pool mode writes need the master, run the command again once it answers`,
  );
}

/** Pool-list and vm-list at once: the whole pool in two xe calls. */
export async function readSnapshot(xp: XePool): Promise<PoolSnapshot> {
  // vm-list first: the longest answer starts first
  const [vms, record] = await allEnded([xp.vmList(), xp.poolRecord()]);
  const claims = parseClaims(record.otherConfig);
  return {
    record,
    vms,
    claims,
    format: markerFormat(record.otherConfig),
    registry: buildRegistry(claims, vms),
  };
}

/** This host joined pool mode but the pool lost its marker: only reconcile may write. */
export function markerMissing(): VgpuError {
  return new VgpuError(
    `this host is in pool mode but the pool has lost its pool-mode marker (a master rollback or a wiped other-config?); nothing was changed: run 'vgpu-admin pool reconcile' to rebuild it, or 'vgpu-admin pool disable' to leave pool mode`,
  );
}

/** A host that meets a newer (or unreadable) format refuses to write (design.md §8). */
export function assertWritableFormat(format: number | null): void {
  if (format !== null && !(format <= POOL_FORMAT)) {
    throw new VgpuError(
      `this pool runs vgpu-admin pool mode format ${
        Number.isNaN(format) ? "(unreadable)" : format
      }, newer than this vgpu-admin understands (${POOL_FORMAT}); nothing was changed: upgrade vgpu-admin on this host`,
    );
  }
}

/**
 * Writes the snapshot's registry into this host's database: every claimed VM whose args carry
 * its claim. Rows of VMs with an open journal entry here are left alone (a change of ours is in
 * flight); rows still backed by a claim or by args are kept (reconcile needs them).
 */
export function refreshCache(
  store: Store,
  snap: PoolSnapshot,
  masterName: string,
  now: Date,
): PoolState {
  const busy = new Set(store.openJournalEntries().map((e) => e.vmUuid));
  const carriers = new Set(
    snap.vms.filter((v) => parseDeviceArgs(v.deviceModelArgs).stubs.length > 0).map((v) => v.uuid),
  );
  const claimed = new Set(snap.claims.values());
  const cached = new Map(store.listVms().map((v) => [v.vmUuid, v]));
  const rows: CachedVm[] = [];
  for (const e of snap.registry.entries) {
    if (e.vm === null || e.pool === null || e.priority === null || e.argsVmId !== e.vmId) continue;
    if (busy.has(e.vmUuid)) continue;
    const local = cached.get(e.vmUuid);
    rows.push({
      vmUuid: e.vmUuid,
      vmId: e.vmId,
      vmName: local?.vmName ?? (sanitizeHostName(e.vm.nameLabel) || null),
      pool: e.pool,
      priority: e.priority,
    });
  }
  // one VM claimed twice: keep the claim its args carry (above); never two rows
  const state: PoolState = {
    format: snap.format ?? POOL_FORMAT,
    poolUuid: snap.record.uuid,
    master: snap.record.master,
    masterName,
    refreshedAt: now.toISOString(),
  };
  applyRegistry(
    store,
    rows,
    (u) => busy.has(u) || claimed.has(u) || carriers.has(u),
    state,
    now,
  );
  return state;
}

/** Everything a write in pool mode needs, after a fresh read of the pool. */
export interface PoolContext {
  xp: XePool;
  snap: PoolSnapshot;
  state: PoolState;
}

/**
 * For a command that writes: null when this host is standalone; otherwise the pool read afresh
 * (two xe calls), its format checked, and this host's cache refreshed. The master unreachable →
 * MasterUnreachableError, nothing changed. Pool mode turned off meanwhile → this host leaves it.
 */
export async function poolContextForWrite(
  store: Store,
  xe: Xe,
  now: () => Date,
): Promise<PoolContext | null> {
  const known = readPoolState(store);
  if (known === null) return null;
  const xp = new XePool(xe);
  let snap: PoolSnapshot;
  try {
    snap = await readSnapshot(xp);
  } catch (e) {
    throw unreachable(known, e);
  }
  if (snap.format === 0) {
    writePoolState(store, null, now());
    throw new VgpuError(
      `pool mode was turned off on this pool: this host is standalone again; nothing was changed, run the command again`,
    );
  }
  if (snap.format === null) throw markerMissing();
  assertWritableFormat(snap.format);
  const masterName = snap.record.master === known.master ? known.masterName : snap.record.master;
  const state = refreshCache(store, snap, masterName, now());
  return { xp, snap, state };
}

/** The name a conflict gives a VM: from this host's cache, else xapi's name-label. */
function nameOf(store: Store, snap: PoolSnapshot, vmUuid: string): string {
  const row = store.getVm(vmUuid);
  if (row?.vmName) return row.vmName;
  return snap.vms.find((v) => v.uuid === vmUuid)?.nameLabel || "unnamed";
}

/**
 * Claims a vm_id pool-wide for `vmUuid` with one atomic `pool-param-add` (design.md §8).
 * `wanted`: that id or a conflict naming its holder. Otherwise the VM's existing claim (an
 * earlier run claimed and died), else the lowest free id, retried on a lost race (bounded).
 */
export async function claimVmId(
  store: Store,
  ctx: PoolContext,
  vmUuid: string,
  wanted: number | undefined,
  random: () => number = Math.random,
): Promise<number> {
  const { xp, snap } = ctx;
  const pool = snap.record.uuid;
  const mine = [...snap.claims].filter(([, u]) => u === vmUuid).map(([n]) => n);
  if (wanted === undefined && mine.length > 0) {
    dropStaleRows(store, vmUuid, mine[0]);
    return mine[0];
  }
  if (wanted !== undefined) {
    for (let attempt = 0; attempt < 3; attempt++) {
      let ours = await xp.add("pool", pool, claimKey(wanted), vmUuid) === "added";
      if (!ours) {
        const holder = await xp.get("pool", pool, claimKey(wanted));
        if (holder !== null && holder !== vmUuid) {
          throw new ConflictError(
            `VM ID ${wanted} already in use by VM ${holder} (${nameOf(store, snap, holder)})`,
          );
        }
        // ours: an earlier answer was lost; null: released meanwhile, add again
        ours = holder === vmUuid;
      }
      if (ours) {
        dropStaleRows(store, vmUuid, wanted);
        return wanted;
      }
    }
    // taken and released again at every try: never go on without the claim
    throw new OperationFailedError(
      `vm_id ${wanted} could not be claimed: other hosts took and released it at every try; nothing was changed for it, run the command again`,
    );
  }
  const used = new Set<number>([...snap.claims.keys(), ...store.listVms().map((v) => v.vmId)]);
  // Uncontended: the lowest free id. A lost race means other hosts are claiming right now: read
  // every claim again (one call), then pick among the lowest free ids, as many as claims appeared
  // since our last read (+1), so that the racers spread out instead of all trying the same next
  // id (lowest free in turn, at 3 hosts x 8 registrations at once: ~10 adds per registration).
  let spread = 1;
  for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt++) {
    const n = freeAmongLowest(used, spread, random);
    if (await xp.add("pool", pool, claimKey(n), vmUuid) === "added") {
      dropStaleRows(store, vmUuid, n);
      return n;
    }
    used.add(n);
    let appeared = 0;
    for (const id of parseClaims((await xp.poolRecord()).otherConfig).keys()) {
      if (!used.has(id)) appeared++;
      used.add(id);
    }
    spread = appeared + 1;
  }
  throw new OperationFailedError(
    `no free vm_id could be claimed in ${CLAIM_ATTEMPTS} tries (other hosts are registering VMs at the same time); nothing was registered, run the command again`,
  );
}

/** Releases a claim, only after reading that it is this VM's (design.md §8). */
export async function releaseVmId(ctx: PoolContext, vmUuid: string, vmId: number): Promise<void> {
  await ctx.xp.removeIfOurs("pool", ctx.snap.record.uuid, claimKey(vmId), vmUuid);
}

/** This process as a ticket holder. */
export function ticketFor(
  host: string,
  hostName: string,
  pid: number,
  command: string,
  now: Date,
): Ticket {
  return { host, hostName, pid, command, at: now.toISOString() };
}

/**
 * Takes the VM's pool-wide ticket (one `vm-param-add` on its other-config). Held by another
 * host → BusyError naming host, pid, command and time, at once. Held by a process of this host:
 * it is dead (the caller holds the VM's local lock), so its ticket is taken over.
 */
export async function acquireTicket(
  xp: XePool,
  vmUuid: string,
  me: Ticket,
): Promise<string | null> {
  const value = formatTicket(me);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      if (await xp.add("vm", vmUuid, TICKET_KEY, value) === "added") return value;
    } catch (e) {
      // no such VM in the pool: nobody can change it; the command says what it needs to
      if (e instanceof XeVmNotFoundError) return null;
      throw e;
    }
    const held = await xp.get("vm", vmUuid, TICKET_KEY);
    if (held === null) continue; // released meanwhile
    if (held === value) return value; // ours: the answer was lost
    const t = parseTicket(held);
    if (t !== null && t.host === me.host && t.pid !== me.pid) {
      // a dead process of this host (we hold the VM's lock here): its ticket goes
      await xp.removeIfOurs("vm", vmUuid, TICKET_KEY, held);
      continue;
    }
    throw new BusyError(
      t === null
        ? `VM ${vmUuid} is being changed by another vgpu-admin in the pool (ticket ${
          JSON.stringify(held)
        }); wait for it to finish, then run the command again`
        : `VM ${vmUuid} is being changed by another vgpu-admin in the pool (host ${t.hostName}, pid ${t.pid}, ${t.command}, since ${
          humanTime(t.at)
        }); wait for it to finish, then run the command again`,
    );
  }
  throw new BusyError(
    `VM ${vmUuid} is being changed by another vgpu-admin in the pool; wait for it to finish, then run the command again`,
  );
}

/** Releases the ticket, and the commit marker made under it, only if they are ours. */
export async function releaseTicket(xp: XePool, vmUuid: string, value: string): Promise<void> {
  const t = parseTicket(value);
  const commit = await xp.get("vm", vmUuid, COMMIT_KEY);
  if (commit !== null && t !== null && commit.endsWith(` host=${t.host} pid=${t.pid}`)) {
    await xp.removeIfOurs("vm", vmUuid, COMMIT_KEY, commit);
  }
  await xp.removeIfOurs("vm", vmUuid, TICKET_KEY, value);
}

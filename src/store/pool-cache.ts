// Pool mode in this host's database (design.md §8): the seed schema unchanged, the whole pool's
// registry cached in `vms`, and pool mode's own state in `settings` under `pool:` keys (hidden
// from `settings`, export and import). Cache refreshes write no history: history stays per host.
import type { PoolId, Priority } from "../domain/types.ts";
import type { Store } from "./store.ts";

const STATE_KEY = "pool:state";

/** What this host knows of pool mode: written by `pool enable` and by every refresh. */
export interface PoolState {
  format: number;
  poolUuid: string;
  master: string;
  masterName: string;
  /** ISO time of the last refresh from xapi (the cache's age). */
  refreshedAt: string;
}

/** Pool mode as this host last saw it; null: standalone. */
export function readPoolState(store: Store): PoolState | null {
  const row = store.db.prepare(`SELECT value FROM settings WHERE key = ?`).get(STATE_KEY) as
    | { value: string }
    | undefined;
  if (row === undefined) return null;
  try {
    const v = JSON.parse(row.value);
    return typeof v?.poolUuid === "string" ? v as PoolState : null;
  } catch {
    return null;
  }
}

export function writePoolState(store: Store, state: PoolState | null, now: Date): void {
  if (state === null) {
    store.db.prepare(`DELETE FROM settings WHERE key = ?`).run(STATE_KEY);
    return;
  }
  store.db.prepare(
    `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
     ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  ).run(STATE_KEY, JSON.stringify(state), now.toISOString());
}

/** One row of the pool's registry as the cache stores it. */
export interface CachedVm {
  vmUuid: string;
  vmId: number;
  vmName: string | null;
  pool: PoolId;
  priority: Priority;
}

/**
 * Makes `vms` hold `rows` (upserted by uuid; a row holding one of their vm_ids for another VM is
 * stale and goes) and drops rows that are not in `rows` unless `keep` says otherwise. One
 * transaction with the state, so a reader sees the old cache or the new one.
 */
export function applyRegistry(
  store: Store,
  rows: readonly CachedVm[],
  keep: (vmUuid: string) => boolean,
  state: PoolState,
  now: Date,
): void {
  const db = store.db;
  const readRows = () =>
    db.prepare(`SELECT vm_uuid, vm_id, vm_name, pool_id, priority FROM vms`).all() as {
      vm_uuid: string;
      vm_id: number;
      vm_name: string | null;
      pool_id: string;
      priority: number;
    }[];
  const wanted = new Set(rows.map((r) => r.vmUuid));
  const plan = (existing: ReturnType<typeof readRows>) => {
    const before = new Map(existing.map((r) => [r.vm_uuid, r]));
    return {
      drops: existing.filter((e) => !wanted.has(e.vm_uuid) && !keep(e.vm_uuid)),
      upserts: rows.filter((r) => {
        const e = before.get(r.vmUuid);
        return !(e !== undefined && e.vm_id === r.vmId && e.pool_id === r.pool &&
          e.priority === r.priority && e.vm_name === r.vmName);
      }),
    };
  };
  // nothing changed and the cache's time is recent: no write at all (a read command then leaves
  // the database untouched; the age a banner gives is at most REWRITE_AFTER_MS too old)
  const first = plan(readRows());
  if (first.drops.length === 0 && first.upserts.length === 0) {
    const old = readPoolState(store);
    if (
      old !== null && old.format === state.format && old.poolUuid === state.poolUuid &&
      old.master === state.master && old.masterName === state.masterName &&
      now.getTime() - Date.parse(old.refreshedAt) < REWRITE_AFTER_MS &&
      now.getTime() >= Date.parse(old.refreshedAt)
    ) return;
  }
  store.transaction(() => {
    const { drops, upserts } = plan(readRows());
    const drop = db.prepare(`DELETE FROM vms WHERE vm_uuid = ?`);
    for (const { vm_uuid } of drops) drop.run(vm_uuid);
    const stale = db.prepare(`DELETE FROM vms WHERE vm_id = ? AND vm_uuid != ?`);
    const upsert = db.prepare(
      `INSERT INTO vms (vm_id, vm_uuid, vm_name, pool_id, priority, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(vm_uuid) DO UPDATE SET vm_id = excluded.vm_id, vm_name = excluded.vm_name,
         pool_id = excluded.pool_id, priority = excluded.priority, updated_at = excluded.updated_at`,
    );
    const at = now.toISOString().replace("T", " ").slice(0, 19);
    for (const r of upserts) {
      stale.run(r.vmId, r.vmUuid);
      upsert.run(r.vmId, r.vmUuid, r.vmName, r.pool, r.priority, at, at);
    }
    writePoolState(store, state, now);
  });
}

/** A refresh that changes nothing rewrites the cache's time only when it is this old. */
export const REWRITE_AFTER_MS = 60_000;

/** VMs registered by this host's own commands (an insert in its history): its registrations. */
export function locallyRegistered(store: Store): Set<string> {
  const rows = store.db.prepare(
    `SELECT DISTINCT vm_uuid FROM history WHERE vm_uuid IS NOT NULL AND before_json IS NULL
     AND after_json IS NOT NULL`,
  ).all() as { vm_uuid: string }[];
  return new Set(rows.map((r) => r.vm_uuid));
}

/** Removes cached rows that hold `vmId` for another VM, or `vmUuid` (a claim made them stale). */
export function dropStaleRows(store: Store, vmUuid: string, vmId: number): void {
  store.db.prepare(`DELETE FROM vms WHERE (vm_id = ? AND vm_uuid != ?)`).run(vmId, vmUuid);
}

/** The names this host's database gives VMs (no row decoding: pool status needs only these). */
export function cachedNames(store: Store): Map<string, string | null> {
  const rows = store.db.prepare(`SELECT vm_uuid, vm_name FROM vms`).all() as {
    vm_uuid: string;
    vm_name: string | null;
  }[];
  return new Map(rows.map((r) => [r.vm_uuid, r.vm_name]));
}

// The whole configuration at once: what `export` reads in one snapshot and what `import` writes
// in one transaction (pools, vms, settings, each change with its history row).
import type { ImportVm } from "../domain/config-file.ts";
import type { Pool, Vm } from "../domain/types.ts";
import { sqliteError } from "./open.ts";
import type { PoolsTable } from "./pools.ts";
import type { SettingsHistoryTables } from "./settings-history.ts";
import { type Sql, sqlTimestamp, vmSnapshot } from "./sql.ts";
import type { VmsTable } from "./vms.ts";

/** The whole configuration as stored (Store.readConfiguration). */
export interface StoredConfiguration {
  schemaVersion: number;
  pools: Pool[];
  /** By vm_id. */
  vms: Vm[];
  /** Only the settings set explicitly. */
  settings: Map<string, string>;
}

/** A VM row to write by an import; null timestamps become the import's time. */
export type ImportVmRow = Omit<ImportVm, "path">;

/** What an import writes (Store.applyImport). */
export interface ImportWrites {
  removeVms: readonly Vm[];
  /** Registered VMs whose row becomes `after` (created_at kept, updated_at the import's time). */
  changeVms: readonly { before: Vm; after: ImportVmRow }[];
  addVms: readonly ImportVmRow[];
  pools: readonly {
    before: Pool;
    after: { name: string; description: string | null; enabled: boolean };
  }[];
  /** `after` null: back to the default (the stored value is deleted). */
  settings: readonly { key: string; before: string | null; after: string | null }[];
}

export function schemaVersion(sql: Sql): number {
  return sql.get<{ user_version: number }>("PRAGMA user_version")!.user_version;
}

/** What `export` writes, read in one snapshot: schema version, pools, VMs by vm_id, settings. */
export function readConfiguration(
  sql: Sql,
  t: { pools: PoolsTable; vms: VmsTable; settings: SettingsHistoryTables },
): StoredConfiguration {
  try {
    sql.db.exec("BEGIN");
  } catch (e) {
    throw sqliteError(e, sql.path);
  }
  try {
    const config: StoredConfiguration = {
      schemaVersion: schemaVersion(sql),
      pools: t.pools.listPools(),
      vms: t.vms.listVmsByVmId(),
      settings: t.settings.listSettings(),
    };
    sql.db.exec("COMMIT");
    return config;
  } catch (e) {
    try {
      sql.db.exec("ROLLBACK");
    } catch { /* already gone */ }
    throw sqliteError(e, sql.path);
  }
}

/**
 * Applies an import in one immediate transaction, all or nothing. `plan` runs first, inside
 * the write lock: it re-reads the database (and throws when it changed since the user
 * confirmed) and returns the writes. Rewritten VMs are deleted before any row is inserted, so
 * vm_ids may move between VMs. Every change gets its history row (command: this store's).
 */
export function applyImport(sql: Sql, plan: () => ImportWrites): ImportWrites {
  return sql.transaction(() => {
    const w = plan();
    const ts = sqlTimestamp(sql.now());
    const insert = `INSERT INTO vms (vm_id, vm_uuid, vm_name, pool_id, priority, created_at,
      updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`;
    const snap = (v: ImportVmRow) => vmSnapshot({ ...v, createdAt: ts, updatedAt: ts });
    for (const vm of w.removeVms) {
      sql.run(`DELETE FROM vms WHERE vm_uuid = ?`, vm.vmUuid);
      sql.run(`DELETE FROM stale_runs WHERE vm_uuid = ?`, vm.vmUuid);
      sql.history(vm.vmUuid, null, vmSnapshot(vm), null);
    }
    for (const c of w.changeVms) sql.run(`DELETE FROM vms WHERE vm_uuid = ?`, c.before.vmUuid);
    for (const { before, after: a } of w.changeVms) {
      sql.run(insert, a.vmId, a.vmUuid, a.vmName, a.pool, a.priority, before.createdAt, ts);
      sql.history(a.vmUuid, null, vmSnapshot(before), snap(a));
    }
    for (const a of w.addVms) {
      sql.run(
        insert,
        a.vmId,
        a.vmUuid,
        a.vmName,
        a.pool,
        a.priority,
        a.createdAt ?? ts,
        a.updatedAt ?? ts,
      );
      sql.history(a.vmUuid, null, null, snap(a));
    }
    const poolSnap = (p: { name: string; description: string | null; enabled: boolean }) =>
      JSON.stringify({ pool_name: p.name, description: p.description, enabled: p.enabled });
    for (const { before, after } of w.pools) {
      sql.run(
        `UPDATE pools SET pool_name = ?, description = ?, enabled = ?, updated_at = ?
         WHERE pool_id = ?`,
        after.name,
        after.description,
        after.enabled ? 1 : 0,
        ts,
        before.poolId,
      );
      sql.history(null, before.poolId, poolSnap(before), poolSnap(after));
    }
    for (const s of w.settings) {
      if (s.after === null) sql.run(`DELETE FROM settings WHERE key = ?`, s.key);
      else {
        sql.run(
          `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
           ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
          s.key,
          s.after,
          ts,
        );
      }
      const v = (x: string | null) => (x === null ? null : JSON.stringify({ [s.key]: x }));
      sql.history(null, null, v(s.before), v(s.after));
    }
    return w;
  });
}

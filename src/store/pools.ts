// The `pools` table: the two vGPU pools, their names, descriptions and enabled state.
import { DatabaseError } from "../domain/errors.ts";
import type { Pool, PoolId, Priority } from "../domain/types.ts";
import { DamagedRowError, decodePool, decodeVm } from "./rows.ts";
import { type Row, type Sql, sqlTimestamp, VM_COLUMNS } from "./sql.ts";

export class PoolsTable {
  constructor(private readonly sql: Sql) {}

  listPools(): Pool[] {
    return this.sql.all<Row>(`SELECT * FROM pools ORDER BY pool_id`).map(decodePool);
  }

  getPool(poolId: PoolId): Pool {
    const r = this.sql.get<Row>(`SELECT * FROM pools WHERE pool_id = ?`, poolId);
    if (r === undefined) {
      throw new DatabaseError(
        `database ${this.sql.path} has no vGPU pool ${poolId}; restore it from a backup`,
      );
    }
    return decodePool(r);
  }

  /** Number of VMs per pool and priority: counts[pool][priority]. */
  poolCounts(): Record<PoolId, [number, number, number]> {
    const counts: Record<PoolId, [number, number, number]> = { A: [0, 0, 0], B: [0, 0, 0] };
    for (
      const r of this.sql.all<{ pool_id: PoolId; priority: Priority; n: number }>(
        `SELECT pool_id, priority, COUNT(*) AS n FROM vms GROUP BY pool_id, priority`,
      )
    ) {
      if (counts[r.pool_id]?.[r.priority] === undefined) {
        // A row out of the schema's ranges: decoding it names it (and what is wrong).
        const bad = this.sql.get<Row>(
          `SELECT ${VM_COLUMNS} FROM vms WHERE pool_id IS ? AND priority IS ? LIMIT 1`,
          r.pool_id,
          r.priority,
        );
        if (bad !== undefined) decodeVm(bad);
        throw new DamagedRowError("vms", "?", `pool_id ${r.pool_id}, priority ${r.priority}`);
      }
      counts[r.pool_id][r.priority] = r.n;
    }
    return counts;
  }

  /** Renames a pool and, when `description` is given, sets it (null clears it). */
  updatePool(
    poolId: PoolId,
    name: string,
    description: string | null | undefined,
  ): { before: Pool; after: Pool } {
    return this.sql.transaction(() => {
      const before = this.getPool(poolId);
      const desc = description === undefined ? before.description : description;
      this.sql.run(
        `UPDATE pools SET pool_name = ?, description = ?, updated_at = ? WHERE pool_id = ?`,
        name,
        desc,
        sqlTimestamp(this.sql.now()),
        poolId,
      );
      const after = this.getPool(poolId);
      const snap = (p: Pool) => JSON.stringify({ pool_name: p.name, description: p.description });
      this.sql.history(null, poolId, snap(before), snap(after));
      return { before, after };
    });
  }

  /** Enables or disables a pool (metadata only: its VMs keep their rows and args). */
  setPoolEnabled(poolId: PoolId, enabled: boolean): { before: Pool; after: Pool } {
    return this.sql.transaction(() => {
      const before = this.getPool(poolId);
      this.sql.run(
        `UPDATE pools SET enabled = ?, updated_at = ? WHERE pool_id = ?`,
        enabled ? 1 : 0,
        sqlTimestamp(this.sql.now()),
        poolId,
      );
      const after = this.getPool(poolId);
      const snap = (p: Pool) => JSON.stringify({ enabled: p.enabled });
      this.sql.history(null, poolId, snap(before), snap(after));
      return { before, after };
    });
  }
}

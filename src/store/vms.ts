// The `vms` table (and `stale_runs`, which only ever names a registered VM): the registry of
// VMs, their conflicts and the exact undo of a committed change.
import type { SQLInputValue } from "node:sqlite";
import { BusyError, ConflictError, NotFoundError, PoolDisabledError } from "../domain/errors.ts";
import {
  type PoolId,
  type Priority,
  PRIORITY_NAMES,
  type VgpuConfig,
  type Vm,
  VM_ID_MAX,
} from "../domain/types.ts";
import { decodePool, decodeStaleRun, decodeVm, decodeVmValues, TimeStrings } from "./rows.ts";
import { type Row, type Sql, sqlTimestamp, VM_COLUMNS, vmSnapshot } from "./sql.ts";

export interface NewVm {
  vmUuid: string;
  vmName: string | null;
  pool: PoolId;
  priority: Priority;
  /** Omitted → the lowest unused vm_id ≥ 1, chosen inside the same transaction. */
  vmId?: number;
  /** vm_ids the lowest-free choice must not take: those that VMs on the host carry (issue 21.2). */
  avoid?: ReadonlySet<number>;
}

/** A committed change, enough to undo it exactly (compensation after a failed xe step). */
export interface VmChange {
  historyId: number;
  before: Vm | null;
  after: Vm | null;
}

export interface StaleRun {
  vmUuid: string;
  since: string;
  reason: string;
}

export function conflictMessage(vmId: number, holder: Vm): string {
  return `VM ID ${vmId} already in use by VM ${holder.vmUuid} (${holder.vmName ?? "<no name>"})`;
}

function sameVgpu(a: VgpuConfig, b: VgpuConfig): boolean {
  return a.pool === b.pool && a.priority === b.priority && a.vmId === b.vmId;
}

/** Rows per read of listVms. */
const LIST_PAGE = 512;

export class VmsTable {
  constructor(private readonly sql: Sql) {}

  /** Registered VMs, by pool then vm_id (design.md §3: sorted by vm_id inside a pool). */
  listVms(filter: { pool?: PoolId; priority?: Priority } = {}): Vm[] {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (filter.pool !== undefined) {
      where.push("pool_id = ?");
      params.push(filter.pool);
    }
    if (filter.priority !== undefined) {
      where.push("priority = ?");
      params.push(filter.priority);
    }
    // Read LIST_PAGE rows at a time after the last (pool_id, vm_id): both are NOT NULL and
    // vm_id is UNIQUE, so the pair orders every row exactly as ORDER BY does, damaged ones too.
    const cond = where.join(" AND ");
    const order = ` ORDER BY pool_id, vm_id LIMIT ${LIST_PAGE}`;
    const shared = new TimeStrings();
    return this.sql.pagedAs(
      {
        first: `SELECT ${VM_COLUMNS} FROM vms${cond ? ` WHERE ${cond}` : ""}${order}`,
        next: `SELECT ${VM_COLUMNS} FROM vms WHERE ${
          cond ? `${cond} AND ` : ""
        }(pool_id, vm_id) > (?, ?)${order}`,
        page: LIST_PAGE,
      },
      (a) => [a[3], a[0]] as SQLInputValue[],
      (a) => decodeVmValues(a, shared),
      ...params,
    );
  }

  /** Every VM by vm_id (export's order). */
  listVmsByVmId(): Vm[] {
    const shared = new TimeStrings();
    return this.sql.allAs(
      `SELECT ${VM_COLUMNS} FROM vms ORDER BY vm_id`,
      (a) => decodeVmValues(a, shared),
    );
  }

  getVm(vmUuid: string): Vm | null {
    const r = this.sql.get<Row>(`SELECT ${VM_COLUMNS} FROM vms WHERE vm_uuid = ?`, vmUuid);
    return r === undefined ? null : decodeVm(r);
  }

  /** The registered VM or a NotFoundError telling how to register it. */
  requireVm(vmUuid: string): Vm {
    const vm = this.getVm(vmUuid);
    if (vm === null) {
      throw new NotFoundError(
        `VM ${vmUuid} is not registered; see 'vgpu-admin list-vms', or register it with 'vgpu-admin register-vm --vm-uuid=${vmUuid}'`,
      );
    }
    return vm;
  }

  getVmByVmId(vmId: number): Vm | null {
    const r = this.sql.get<Row>(`SELECT ${VM_COLUMNS} FROM vms WHERE vm_id = ?`, vmId);
    return r === undefined ? null : decodeVm(r);
  }

  /** The lowest vm_id ≥ 1 that no VM holds and that is not in `avoid`. */
  lowestFreeVmId(avoid: ReadonlySet<number> = new Set()): number {
    let id = 1;
    if (avoid.size === 0) {
      const r = this.sql.get<{ id: number | null }>(
        `SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM vms WHERE vm_id = 1) THEN 1
                ELSE (SELECT MIN(v.vm_id + 1) FROM vms v
                      WHERE NOT EXISTS (SELECT 1 FROM vms w WHERE w.vm_id = v.vm_id + 1)) END AS id`,
      );
      id = r?.id ?? 1;
    } else {
      const held = new Set(
        this.sql.all<{ vm_id: number }>(`SELECT vm_id FROM vms`).map((r) => r.vm_id),
      );
      while (held.has(id) || avoid.has(id)) id++;
    }
    if (id > VM_ID_MAX) {
      throw new ConflictError(
        `no free vm_id left below ${VM_ID_MAX}; pass --vm-id with an unused id`,
      );
    }
    return id;
  }

  /**
   * A VM entering a pool: the pool must take new VMs, checked inside the write's own transaction
   * so that a concurrent disable-pool is either before it (refused) or after it (issue 18 B4).
   */
  #assertPoolTakes(pool: PoolId): void {
    const r = this.sql.get<Row>(`SELECT * FROM pools WHERE pool_id = ?`, pool);
    if (r === undefined) return; // reported by every pool reader ("has no vGPU pool")
    const p = decodePool(r);
    if (!p.enabled) throw new PoolDisabledError(p);
  }

  #assertFree(vmUuid: string, vmId: number): void {
    const holder = this.getVmByVmId(vmId);
    if (holder !== null && holder.vmUuid !== vmUuid) {
      throw new ConflictError(conflictMessage(vmId, holder));
    }
  }

  /** Throws the ConflictError insertVm would throw, without writing (a check before xe calls). */
  assertCanInsert(vmUuid: string, vmId: number | undefined): void {
    const existing = this.getVm(vmUuid);
    if (existing !== null) {
      throw new ConflictError(
        `VM ${vmUuid} is already registered (vGPU pool ${existing.pool}, VM ID ${existing.vmId}); change it with 'vgpu-admin update-vm'`,
      );
    }
    if (vmId !== undefined) this.#assertFree(vmUuid, vmId);
  }

  /** Inserts a VM (conflicts checked inside the transaction) and its history row. */
  insertVm(input: NewVm): VmChange {
    return this.sql.transaction(() => {
      this.assertCanInsert(input.vmUuid, input.vmId);
      const vmId = input.vmId ?? this.lowestFreeVmId(input.avoid);
      this.#assertFree(input.vmUuid, vmId);
      this.#assertPoolTakes(input.pool);
      const ts = sqlTimestamp(this.sql.now());
      this.sql.run(
        `INSERT INTO vms (vm_id, vm_uuid, vm_name, pool_id, priority, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        vmId,
        input.vmUuid,
        input.vmName,
        input.pool,
        input.priority,
        ts,
        ts,
      );
      const after = this.getVm(input.vmUuid)!;
      const historyId = this.sql.history(after.vmUuid, null, null, vmSnapshot(after));
      return { historyId, before: null, after };
    });
  }

  /**
   * Changes a registered VM's pool, priority and vm_id (and name when given). With `expected`,
   * a compare-and-set: the row must still hold that configuration (what the plan read), else
   * BusyError and nothing changes, so nobody's change is silently reverted.
   */
  updateVm(
    vmUuid: string,
    config: VgpuConfig,
    vmName?: string | null,
    expected?: VgpuConfig,
    o: { anyPool?: boolean } = {},
  ): VmChange {
    return this.sql.transaction(() => {
      const before = this.requireVm(vmUuid);
      if (expected !== undefined && !sameVgpu(before, expected)) {
        throw new BusyError(
          `VM ${vmUuid} was changed by someone else meanwhile (now vGPU pool ${before.pool}, priority ${
            PRIORITY_NAMES[before.priority]
          }, VM ID ${before.vmId}); nothing changed: check it and run the command again`,
        );
      }
      this.#assertFree(vmUuid, config.vmId);
      if (config.pool !== before.pool && !o.anyPool) this.#assertPoolTakes(config.pool);
      this.sql.run(
        `UPDATE vms SET pool_id = ?, priority = ?, vm_id = ?, vm_name = ?, updated_at = ?
         WHERE vm_uuid = ?`,
        config.pool,
        config.priority,
        config.vmId,
        vmName === undefined ? before.vmName : vmName,
        sqlTimestamp(this.sql.now()),
        vmUuid,
      );
      const after = this.getVm(vmUuid)!;
      const historyId = this.sql.history(vmUuid, null, vmSnapshot(before), vmSnapshot(after));
      return { historyId, before, after };
    });
  }

  deleteVm(vmUuid: string): VmChange {
    return this.sql.transaction(() => {
      const before = this.requireVm(vmUuid);
      this.sql.run(`DELETE FROM vms WHERE vm_uuid = ?`, vmUuid);
      this.sql.run(`DELETE FROM stale_runs WHERE vm_uuid = ?`, vmUuid);
      const historyId = this.sql.history(vmUuid, null, vmSnapshot(before), null);
      return { historyId, before, after: null };
    });
  }

  /**
   * Undoes a committed change exactly (row with its timestamps, and its history row), in one
   * transaction. Returns false, changing nothing, when the row no longer matches the change's
   * result (someone changed it since): the caller then reports instead of overwriting.
   */
  undoChange(change: VmChange): boolean {
    const uuid = (change.after ?? change.before)!.vmUuid;
    return this.sql.transaction(() => {
      const current = this.getVm(uuid);
      const same = (a: Vm | null, b: Vm | null) =>
        a === null || b === null ? a === b : vmSnapshot(a) === vmSnapshot(b);
      if (!same(current, change.after)) return false;
      this.sql.run(`DELETE FROM vms WHERE vm_uuid = ?`, uuid);
      const b = change.before;
      if (b !== null) {
        this.sql.run(
          `INSERT INTO vms (vm_id, vm_uuid, vm_name, pool_id, priority, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
          b.vmId,
          b.vmUuid,
          b.vmName,
          b.pool,
          b.priority,
          b.createdAt,
          b.updatedAt,
        );
      }
      this.sql.run(`DELETE FROM history WHERE id = ?`, change.historyId);
      return true;
    });
  }

  // ---- stale runs: a running VM whose args differ from the database ----

  listStaleRuns(): StaleRun[] {
    return this.sql.all<Row>(`SELECT vm_uuid, since, reason FROM stale_runs ORDER BY vm_uuid`)
      .map(decodeStaleRun);
  }

  getStaleRun(vmUuid: string): StaleRun | null {
    return this.listStaleRuns().find((r) => r.vmUuid === vmUuid) ?? null;
  }

  /** Records that a running VM's args differ from the database (kept from the first time). */
  markStaleRun(vmUuid: string, reason: string): void {
    this.sql.transaction(() => {
      this.sql.run(
        `INSERT INTO stale_runs (vm_uuid, since, reason) VALUES (?, ?, ?)
         ON CONFLICT(vm_uuid) DO NOTHING`,
        vmUuid,
        this.sql.now().toISOString(),
        reason,
      );
    });
  }

  clearStaleRun(vmUuid: string): void {
    this.sql.transaction(() => {
      this.sql.run(`DELETE FROM stale_runs WHERE vm_uuid = ?`, vmUuid);
    });
  }
}

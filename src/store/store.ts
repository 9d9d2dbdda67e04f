// All SQL of vgpu-admin. Every change runs in one immediate transaction together with its
// history row; reads are plain statements. Store methods are named for the table they touch.
import type { ImportVm } from "../domain/config-file.ts";
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { BusyError, ConflictError, DatabaseError, NotFoundError } from "../domain/errors.ts";
import type { JournalEntry, JournalStep } from "../domain/journal.ts";
import {
  type Pool,
  type PoolId,
  type PowerState,
  type Priority,
  PRIORITY_NAMES,
  type VgpuConfig,
  type Vm,
  VM_ID_MAX,
} from "../domain/types.ts";
import { sqliteError } from "./open.ts";
import {
  DamagedRowError,
  decodeHistory,
  decodePool,
  decodeSetting,
  decodeStaleRun,
  decodeVm,
  type HistoryRowValue,
} from "./rows.ts";

/** Who is changing the database and through which command; goes into every history row. */
export interface AuditContext {
  actor: string;
  command: string;
}

export interface NewVm {
  vmUuid: string;
  vmName: string | null;
  pool: PoolId;
  priority: Priority;
  /** Omitted → the lowest unused vm_id ≥ 1, chosen inside the same transaction. */
  vmId?: number;
}

/** A committed change, enough to undo it exactly (compensation after a failed xe step). */
export interface VmChange {
  historyId: number;
  before: Vm | null;
  after: Vm | null;
}

/** One history row, as its decoder in rows.ts reads it. */
export type HistoryEntry = HistoryRowValue;

export interface StaleRun {
  vmUuid: string;
  since: string;
  reason: string;
}

type Row = Record<string, unknown>;

// The rowid comes along so that a damaged row with no usable uuid can still be named.
const VM_COLUMNS =
  "vm_id, vm_uuid, vm_name, pool_id, priority, created_at, updated_at, rowid AS _rowid";

/** The history snapshot of a VM: the configuration, without timestamps. */
function vmSnapshot(vm: Vm | null): string | null {
  if (vm === null) return null;
  return JSON.stringify({
    vm_uuid: vm.vmUuid,
    vm_name: vm.vmName,
    pool_id: vm.pool,
    priority: vm.priority,
    vm_id: vm.vmId,
  });
}

function sameVgpu(a: VgpuConfig, b: VgpuConfig): boolean {
  return a.pool === b.pool && a.priority === b.priority && a.vmId === b.vmId;
}

/** SQLite's CURRENT_TIMESTAMP form (UTC, seconds), so defaults and our writes look alike. */
export function sqlTimestamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace("T", " ");
}

export function conflictMessage(vmId: number, holder: Vm): string {
  return `VM ID ${vmId} already in use by VM ${holder.vmUuid} (${holder.vmName ?? "<no name>"})`;
}

function parseJournalJson(text: string): unknown {
  try {
    const v = JSON.parse(text);
    return v !== null && typeof v === "object" && typeof v.row === "object" ? v : null;
  } catch {
    return null;
  }
}

function isPower(p: unknown): p is PowerState {
  return p === "halted" || p === "running" || p === "paused" || p === "suspended";
}

export class Store {
  #statements = new Map<string, StatementSync>();
  #depth = 0;

  constructor(
    readonly db: DatabaseSync,
    readonly path: string,
    private readonly audit: AuditContext,
    private readonly now: () => Date,
  ) {}

  close(): void {
    this.db.close();
  }

  #stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  #get<T>(sql: string, ...params: SQLInputValue[]): T | undefined {
    try {
      return this.#stmt(sql).get(...params) as T | undefined;
    } catch (e) {
      throw sqliteError(e, this.path);
    }
  }

  #all<T>(sql: string, ...params: SQLInputValue[]): T[] {
    try {
      return this.#stmt(sql).all(...params) as T[];
    } catch (e) {
      throw sqliteError(e, this.path);
    }
  }

  #run(sql: string, ...params: SQLInputValue[]): { changes: number; lastId: number } {
    const r = this.#stmt(sql).run(...params);
    return { changes: Number(r.changes), lastId: Number(r.lastInsertRowid) };
  }

  /**
   * Runs `fn` in one BEGIN IMMEDIATE transaction; any throw rolls everything back. Nested calls
   * join the outer transaction, so ops can commit a row, its history and a journal step together.
   */
  transaction<T>(fn: () => T): T {
    if (this.#depth > 0) {
      this.#depth++;
      try {
        return fn();
      } finally {
        this.#depth--;
      }
    }
    try {
      this.db.exec("BEGIN IMMEDIATE");
    } catch (e) {
      throw sqliteError(e, this.path);
    }
    this.#depth = 1;
    try {
      const result = fn();
      this.db.exec("COMMIT");
      return result;
    } catch (e) {
      try {
        this.db.exec("ROLLBACK");
      } catch { /* the transaction may already be gone; the first error is what matters */ }
      if (e instanceof DatabaseError || !(e instanceof Error) || e.name !== "Error") throw e;
      throw sqliteError(e, this.path);
    } finally {
      this.#depth = 0;
    }
  }

  #history(
    vmUuid: string | null,
    poolId: PoolId | null,
    before: string | null,
    after: string | null,
    command = this.audit.command,
  ): number {
    return this.#run(
      `INSERT INTO history (at, actor, command, vm_uuid, pool_id, before_json, after_json)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      this.now().toISOString(),
      this.audit.actor,
      command,
      vmUuid,
      poolId,
      before,
      after,
    ).lastId;
  }

  // ---- schema ---------------------------------------------------------------------------

  schemaVersion(): number {
    return this.#get<{ user_version: number }>("PRAGMA user_version")!.user_version;
  }

  /** The SQL of every table and index, as SQLite keeps it, in creation order. */
  schemaSql(): string[] {
    return this.#all<{ sql: string }>(
      `SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
       ORDER BY rowid`,
    ).map((r) => r.sql);
  }

  // ---- pools ----------------------------------------------------------------------------

  listPools(): Pool[] {
    return this.#all<Row>(`SELECT * FROM pools ORDER BY pool_id`).map(decodePool);
  }

  getPool(poolId: PoolId): Pool {
    const r = this.#get<Row>(`SELECT * FROM pools WHERE pool_id = ?`, poolId);
    if (r === undefined) {
      throw new DatabaseError(
        `database ${this.path} has no vGPU pool ${poolId}; restore it from a backup`,
      );
    }
    return decodePool(r);
  }

  /** Number of VMs per pool and priority: counts[pool][priority]. */
  poolCounts(): Record<PoolId, [number, number, number]> {
    const counts: Record<PoolId, [number, number, number]> = { A: [0, 0, 0], B: [0, 0, 0] };
    for (
      const r of this.#all<{ pool_id: PoolId; priority: Priority; n: number }>(
        `SELECT pool_id, priority, COUNT(*) AS n FROM vms GROUP BY pool_id, priority`,
      )
    ) {
      if (counts[r.pool_id]?.[r.priority] === undefined) {
        // A row out of the schema's ranges: decoding it names it (and what is wrong).
        const bad = this.#get<Row>(
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
    return this.transaction(() => {
      const before = this.getPool(poolId);
      const desc = description === undefined ? before.description : description;
      this.#run(
        `UPDATE pools SET pool_name = ?, description = ?, updated_at = ? WHERE pool_id = ?`,
        name,
        desc,
        sqlTimestamp(this.now()),
        poolId,
      );
      const after = this.getPool(poolId);
      const snap = (p: Pool) => JSON.stringify({ pool_name: p.name, description: p.description });
      this.#history(null, poolId, snap(before), snap(after));
      return { before, after };
    });
  }

  /** Enables or disables a pool (metadata only: its VMs keep their rows and args). */
  setPoolEnabled(poolId: PoolId, enabled: boolean): { before: Pool; after: Pool } {
    return this.transaction(() => {
      const before = this.getPool(poolId);
      this.#run(
        `UPDATE pools SET enabled = ?, updated_at = ? WHERE pool_id = ?`,
        enabled ? 1 : 0,
        sqlTimestamp(this.now()),
        poolId,
      );
      const after = this.getPool(poolId);
      const snap = (p: Pool) => JSON.stringify({ enabled: p.enabled });
      this.#history(null, poolId, snap(before), snap(after));
      return { before, after };
    });
  }

  // ---- vms ------------------------------------------------------------------------------

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
    const sql = `SELECT ${VM_COLUMNS} FROM vms${
      where.length ? " WHERE " + where.join(" AND ") : ""
    } ORDER BY pool_id, vm_id`;
    return this.#all<Row>(sql, ...params).map(decodeVm);
  }

  getVm(vmUuid: string): Vm | null {
    const r = this.#get<Row>(`SELECT ${VM_COLUMNS} FROM vms WHERE vm_uuid = ?`, vmUuid);
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
    const r = this.#get<Row>(`SELECT ${VM_COLUMNS} FROM vms WHERE vm_id = ?`, vmId);
    return r === undefined ? null : decodeVm(r);
  }

  /** The lowest vm_id ≥ 1 that no VM holds. */
  lowestFreeVmId(): number {
    const r = this.#get<{ id: number | null }>(
      `SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM vms WHERE vm_id = 1) THEN 1
              ELSE (SELECT MIN(v.vm_id + 1) FROM vms v
                    WHERE NOT EXISTS (SELECT 1 FROM vms w WHERE w.vm_id = v.vm_id + 1)) END AS id`,
    );
    const id = r?.id ?? 1;
    if (id > VM_ID_MAX) {
      throw new ConflictError(
        `no free vm_id left below ${VM_ID_MAX}; pass --vm-id with an unused id`,
      );
    }
    return id;
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
    return this.transaction(() => {
      this.assertCanInsert(input.vmUuid, input.vmId);
      const vmId = input.vmId ?? this.lowestFreeVmId();
      this.#assertFree(input.vmUuid, vmId);
      const ts = sqlTimestamp(this.now());
      this.#run(
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
      const historyId = this.#history(after.vmUuid, null, null, vmSnapshot(after));
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
  ): VmChange {
    return this.transaction(() => {
      const before = this.requireVm(vmUuid);
      if (expected !== undefined && !sameVgpu(before, expected)) {
        throw new BusyError(
          `VM ${vmUuid} was changed by someone else meanwhile (now vGPU pool ${before.pool}, priority ${
            PRIORITY_NAMES[before.priority]
          }, VM ID ${before.vmId}); nothing changed: check it and run the command again`,
        );
      }
      this.#assertFree(vmUuid, config.vmId);
      this.#run(
        `UPDATE vms SET pool_id = ?, priority = ?, vm_id = ?, vm_name = ?, updated_at = ?
         WHERE vm_uuid = ?`,
        config.pool,
        config.priority,
        config.vmId,
        vmName === undefined ? before.vmName : vmName,
        sqlTimestamp(this.now()),
        vmUuid,
      );
      const after = this.getVm(vmUuid)!;
      const historyId = this.#history(vmUuid, null, vmSnapshot(before), vmSnapshot(after));
      return { historyId, before, after };
    });
  }

  deleteVm(vmUuid: string): VmChange {
    return this.transaction(() => {
      const before = this.requireVm(vmUuid);
      this.#run(`DELETE FROM vms WHERE vm_uuid = ?`, vmUuid);
      this.#run(`DELETE FROM stale_runs WHERE vm_uuid = ?`, vmUuid);
      const historyId = this.#history(vmUuid, null, vmSnapshot(before), null);
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
    return this.transaction(() => {
      const current = this.getVm(uuid);
      const same = (a: Vm | null, b: Vm | null) =>
        a === null || b === null ? a === b : vmSnapshot(a) === vmSnapshot(b);
      if (!same(current, change.after)) return false;
      this.#run(`DELETE FROM vms WHERE vm_uuid = ?`, uuid);
      const b = change.before;
      if (b !== null) {
        this.#run(
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
      this.#run(`DELETE FROM history WHERE id = ?`, change.historyId);
      return true;
    });
  }

  // ---- stale runs -----------------------------------------------------------------------

  listStaleRuns(): StaleRun[] {
    return this.#all<Row>(`SELECT vm_uuid, since, reason FROM stale_runs ORDER BY vm_uuid`)
      .map(decodeStaleRun);
  }

  getStaleRun(vmUuid: string): StaleRun | null {
    return this.listStaleRuns().find((r) => r.vmUuid === vmUuid) ?? null;
  }

  /** Records that a running VM's args differ from the database (kept from the first time). */
  markStaleRun(vmUuid: string, reason: string): void {
    this.transaction(() => {
      this.#run(
        `INSERT INTO stale_runs (vm_uuid, since, reason) VALUES (?, ?, ?)
         ON CONFLICT(vm_uuid) DO NOTHING`,
        vmUuid,
        this.now().toISOString(),
        reason,
      );
    });
  }

  clearStaleRun(vmUuid: string): void {
    this.transaction(() => {
      this.#run(`DELETE FROM stale_runs WHERE vm_uuid = ?`, vmUuid);
    });
  }

  // ---- operation journal (design.md §5 steps 4 and 10) -----------------------------------

  /** Opens a journal entry (committed at once, before the first change to the host). */
  openJournal(e: Omit<JournalEntry, "id" | "startedAt" | "step" | "actor">): number {
    return this.transaction(() =>
      this.#run(
        `INSERT INTO op_journal (vm_uuid, command, actor, pid, started_at, step, original_json,
           target_json) VALUES (?, ?, ?, ?, ?, 'planned', ?, ?)`,
        e.vmUuid,
        e.command,
        this.audit.actor,
        e.pid,
        this.now().toISOString(),
        JSON.stringify(e.original),
        JSON.stringify(e.target),
      ).lastId
    );
  }

  /** Records the last completed step; `args` updates the original/target args read later. */
  advanceJournal(
    id: number,
    step: JournalStep,
    args?: { original: string | null; target: string | null },
  ): void {
    this.transaction(() => {
      this.#run(`UPDATE op_journal SET step = ? WHERE id = ?`, step, id);
      if (args === undefined) return;
      const r = this.#get<{ original_json: string; target_json: string }>(
        `SELECT original_json, target_json FROM op_journal WHERE id = ?`,
        id,
      )!;
      const o = JSON.parse(r.original_json), t = JSON.parse(r.target_json);
      this.#run(
        `UPDATE op_journal SET original_json = ?, target_json = ? WHERE id = ?`,
        JSON.stringify({ ...o, args: args.original }),
        JSON.stringify({ ...t, args: args.target }),
        id,
      );
    });
  }

  /** Closes an entry; call inside the transaction of the operation's last database change. */
  closeJournal(id: number, outcome: string): void {
    this.transaction(() => {
      this.#run(
        `UPDATE op_journal SET closed_at = ?, outcome = ? WHERE id = ? AND closed_at IS NULL`,
        this.now().toISOString(),
        outcome,
        id,
      );
    });
  }

  /** Open journal entries (all, or one VM's), oldest first. */
  openJournalEntries(vmUuid?: string): JournalEntry[] {
    const rows = this.#all<{
      id: number;
      vm_uuid: string;
      command: string;
      actor: string;
      pid: number;
      started_at: string;
      step: JournalStep;
      original_json: string;
      target_json: string;
    }>(
      `SELECT id, vm_uuid, command, actor, pid, started_at, step, original_json, target_json
       FROM op_journal WHERE closed_at IS NULL ${vmUuid === undefined ? "" : "AND vm_uuid = ?"}
       ORDER BY id`,
      ...(vmUuid === undefined ? [] : [vmUuid]),
    );
    return rows.map((r) => {
      const original = parseJournalJson(r.original_json) as JournalEntry["original"] | null;
      const target = parseJournalJson(r.target_json) as JournalEntry["target"] | null;
      if (original === null || target === null || !isPower(original.power)) {
        throw new DatabaseError(
          `database damaged: op_journal row ${r.id}: its saved configuration is unreadable; run 'vgpu-admin doctor'`,
        );
      }
      return {
        id: r.id,
        vmUuid: r.vm_uuid,
        command: r.command,
        actor: r.actor,
        pid: r.pid,
        startedAt: r.started_at,
        step: r.step,
        original,
        target,
      };
    });
  }

  /** Records a history row of its own (recover's decisions). */
  recordHistory(vmUuid: string, before: Vm | null, after: Vm | null): void {
    this.transaction(() => {
      this.#history(vmUuid, null, vmSnapshot(before), vmSnapshot(after));
    });
  }

  // ---- settings -------------------------------------------------------------------------

  /** Stored settings (only those set explicitly). */
  listSettings(): Map<string, string> {
    return new Map(
      this.#all<Row>(`SELECT key, value FROM settings ORDER BY key`).map(decodeSetting),
    );
  }

  setSetting(key: string, value: string | null): void {
    this.transaction(() => {
      const before = this.#get<{ value: string }>(`SELECT value FROM settings WHERE key = ?`, key);
      if (value === null) {
        this.#run(`DELETE FROM settings WHERE key = ?`, key);
      } else {
        this.#run(
          `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
           ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
          key,
          value,
          sqlTimestamp(this.now()),
        );
      }
      const snap = (v: string | undefined | null) =>
        v === undefined || v === null ? null : JSON.stringify({ [key]: v });
      this.#history(null, null, snap(before?.value), snap(value));
    });
  }

  // ---- history --------------------------------------------------------------------------

  listHistory(o: { vmUuid?: string; limit?: number } = {}): HistoryEntry[] {
    const limit = o.limit ?? -1;
    const rows = o.vmUuid === undefined
      ? this.#all<Record<string, unknown>>(
        `SELECT * FROM history ORDER BY id DESC LIMIT ?`,
        limit,
      )
      : this.#all<Record<string, unknown>>(
        `SELECT * FROM history WHERE vm_uuid = ? ORDER BY id DESC LIMIT ?`,
        o.vmUuid,
        limit,
      );
    return rows.map(decodeHistory);
  }

  // ---- export / import ----

  /** What `export` writes, read in one snapshot: schema version, pools, VMs by vm_id, settings. */
  readConfiguration(): StoredConfiguration {
    try {
      this.db.exec("BEGIN");
    } catch (e) {
      throw sqliteError(e, this.path);
    }
    try {
      const config: StoredConfiguration = {
        schemaVersion: this.schemaVersion(),
        pools: this.listPools(),
        vms: this.#all<Row>(`SELECT ${VM_COLUMNS} FROM vms ORDER BY vm_id`).map(decodeVm),
        settings: this.listSettings(),
      };
      this.db.exec("COMMIT");
      return config;
    } catch (e) {
      try {
        this.db.exec("ROLLBACK");
      } catch { /* already gone */ }
      throw sqliteError(e, this.path);
    }
  }

  /**
   * Applies an import in one immediate transaction, all or nothing. `plan` runs first, inside
   * the write lock: it re-reads the database (and throws when it changed since the user
   * confirmed) and returns the writes. Rewritten VMs are deleted before any row is inserted, so
   * vm_ids may move between VMs. Every change gets its history row (command: this store's).
   */
  applyImport(plan: () => ImportWrites): ImportWrites {
    return this.transaction(() => {
      const w = plan();
      const ts = sqlTimestamp(this.now());
      const insert = `INSERT INTO vms (vm_id, vm_uuid, vm_name, pool_id, priority, created_at,
        updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`;
      const snap = (v: ImportVmRow) => vmSnapshot({ ...v, createdAt: ts, updatedAt: ts });
      for (const vm of w.removeVms) {
        this.#run(`DELETE FROM vms WHERE vm_uuid = ?`, vm.vmUuid);
        this.#run(`DELETE FROM stale_runs WHERE vm_uuid = ?`, vm.vmUuid);
        this.#history(vm.vmUuid, null, vmSnapshot(vm), null);
      }
      for (const c of w.changeVms) this.#run(`DELETE FROM vms WHERE vm_uuid = ?`, c.before.vmUuid);
      for (const { before, after: a } of w.changeVms) {
        this.#run(insert, a.vmId, a.vmUuid, a.vmName, a.pool, a.priority, before.createdAt, ts);
        this.#history(a.vmUuid, null, vmSnapshot(before), snap(a));
      }
      for (const a of w.addVms) {
        this.#run(
          insert,
          a.vmId,
          a.vmUuid,
          a.vmName,
          a.pool,
          a.priority,
          a.createdAt ?? ts,
          a.updatedAt ?? ts,
        );
        this.#history(a.vmUuid, null, null, snap(a));
      }
      const poolSnap = (p: { name: string; description: string | null; enabled: boolean }) =>
        JSON.stringify({ pool_name: p.name, description: p.description, enabled: p.enabled });
      for (const { before, after } of w.pools) {
        this.#run(
          `UPDATE pools SET pool_name = ?, description = ?, enabled = ?, updated_at = ?
           WHERE pool_id = ?`,
          after.name,
          after.description,
          after.enabled ? 1 : 0,
          ts,
          before.poolId,
        );
        this.#history(null, before.poolId, poolSnap(before), poolSnap(after));
      }
      for (const s of w.settings) {
        if (s.after === null) this.#run(`DELETE FROM settings WHERE key = ?`, s.key);
        else {
          this.#run(
            `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
            s.key,
            s.after,
            ts,
          );
        }
        const v = (x: string | null) => (x === null ? null : JSON.stringify({ [s.key]: x }));
        this.#history(null, null, v(s.before), v(s.after));
      }
      return w;
    });
  }

  /**
   * An online copy of the whole database (node:sqlite backup) in a new 0600 file named `base`,
   * or `base-2`, `base-3`… when that name exists (created O_EXCL: parallel runs never collide,
   * a planted symbolic link is never followed). Returns the path written.
   */
  async backupTo(base: string): Promise<string> {
    const [{ backup }, { createBackupFile }] = await Promise.all([
      import("node:sqlite"),
      import("./open.ts"),
    ]);
    const path = createBackupFile(base);
    try {
      await backup(this.db, path);
      return path;
    } catch (e) {
      try {
        Deno.removeSync(path);
      } catch { /* best effort: an empty file left behind says nothing wrong */ }
      const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
      throw new DatabaseError(
        `cannot back up database ${this.path} to ${path}: ${msg}; nothing was changed`,
      );
    }
  }

  // ---- doctor ----

  /**
   * Opens an existing database read-only and exactly as it is, for `doctor`: never creates,
   * migrates or rejects it (doctor reports version and schema itself). Throws DatabaseError.
   */
  static async inspect(path: string, audit: AuditContext, now: () => Date): Promise<Store> {
    const [{ DatabaseSync }, { BUSY_TIMEOUT_MS }] = await Promise.all([
      import("node:sqlite"),
      import("./open.ts"),
    ]);
    // The same refusals as every open: a device, FIFO, directory, foreign or garbled file is
    // reported, never opened (a read-only SQLite open still creates -wal/-shm beside it).
    const { assertOurDatabase } = await import("./open.ts");
    assertOurDatabase(path, { allowNewer: true }); // doctor reports the version itself
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path, { readOnly: true });
    } catch (e) {
      throw sqliteError(e, path);
    }
    try {
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      // Reading the schema proves the file is a database (the header alone is not checked on open).
      db.prepare("SELECT count(*) FROM sqlite_master").get();
    } catch (e) {
      db.close();
      throw sqliteError(e, path);
    }
    return new Store(db, path, audit, now);
  }

  /** `PRAGMA integrity_check`: [] when SQLite finds the file intact, else its problem lines. */
  integrityCheck(): string[] {
    const lines = this.#all<{ integrity_check: string }>("PRAGMA integrity_check")
      .map((r) => r.integrity_check);
    return lines.length === 1 && lines[0] === "ok" ? [] : lines;
  }

  /**
   * Every row the program could not use (decoded as every reader decodes it): for `doctor`,
   * which lists them all where a reader stops at the first.
   */
  damagedRows(): DamagedRowError[] {
    const found: DamagedRowError[] = [];
    const scan = (sql: string, decode: (r: Row) => unknown) => {
      for (const r of this.#all<Row>(sql)) {
        try {
          decode(r);
        } catch (e) {
          if (!(e instanceof DamagedRowError)) throw e;
          found.push(e);
        }
      }
    };
    scan(`SELECT * FROM pools ORDER BY pool_id`, decodePool);
    scan(`SELECT ${VM_COLUMNS} FROM vms ORDER BY rowid`, decodeVm);
    scan(`SELECT key, value FROM settings ORDER BY key`, decodeSetting);
    scan(`SELECT vm_uuid, since, reason FROM stale_runs ORDER BY vm_uuid`, decodeStaleRun);
    scan(`SELECT * FROM history ORDER BY id`, decodeHistory);
    return found;
  }

  /** The first difference from the tables, columns and indexes the code expects, or null. */
  async schemaProblem(): Promise<string | null> {
    const { findSchemaProblem } = await import("./schema-check.ts");
    try {
      return findSchemaProblem(this.db);
    } catch (e) {
      throw sqliteError(e, this.path);
    }
  }
}

// ---- export / import ----

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

// The store's entry point: one SQLite connection (sql.ts) and the modules that hold each table's
// SQL (vms.ts, pools.ts, journal.ts, settings-history.ts, configuration.ts, maintenance.ts).
// Every change runs in one immediate transaction together with its history row; reads are plain
// statements. Store methods are named for the table they touch and delegate to its module.
import type { DatabaseSync } from "node:sqlite";
import type { ForwardStep, JournalEntry, JournalStep } from "../domain/journal.ts";
import type { Pool, PoolId, PowerState, Priority, VgpuConfig, Vm } from "../domain/types.ts";
import {
  applyImport,
  type ImportWrites,
  readConfiguration,
  schemaVersion,
  type StoredConfiguration,
} from "./configuration.ts";
import { JournalTable } from "./journal.ts";
import {
  backupTo,
  damagedRows,
  integrityCheck,
  openForInspection,
  schemaProblem,
  schemaSql,
} from "./maintenance.ts";
import { PoolsTable } from "./pools.ts";
import type { DamagedRowError } from "./rows.ts";
import { type HistoryEntry, SettingsHistoryTables } from "./settings-history.ts";
import { type AuditContext, Sql } from "./sql.ts";
import { type NewVm, type StaleRun, type VmChange, VmsTable } from "./vms.ts";

export type { AuditContext } from "./sql.ts";
export { sqlTimestamp } from "./sql.ts";
export { conflictMessage, type NewVm, type StaleRun, type VmChange } from "./vms.ts";
export type { HistoryEntry } from "./settings-history.ts";
export type { ImportVmRow, ImportWrites, StoredConfiguration } from "./configuration.ts";

export class Store {
  readonly sql: Sql;
  readonly vms: VmsTable;
  readonly pools: PoolsTable;
  readonly journal: JournalTable;
  readonly settingsHistory: SettingsHistoryTables;

  constructor(
    readonly db: DatabaseSync,
    readonly path: string,
    audit: AuditContext,
    now: () => Date,
  ) {
    this.sql = new Sql(db, path, audit, now);
    this.vms = new VmsTable(this.sql);
    this.pools = new PoolsTable(this.sql);
    this.journal = new JournalTable(this.sql);
    this.settingsHistory = new SettingsHistoryTables(this.sql);
  }

  close(): void {
    this.db.close();
  }

  /** How long SQLite waits for another writer's lock (tests shorten the default 5 s). */
  setBusyTimeout(ms: number): void {
    this.db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(ms))}`);
  }

  /** SQLite's page cache of this connection, at most `kib` KiB (default: 2,000 KiB). */
  setCacheKiB(kib: number): void {
    this.db.exec(`PRAGMA cache_size = -${Math.max(1, Math.floor(kib))}`);
  }

  /** One BEGIN IMMEDIATE transaction; nested calls join it (Sql.transaction). */
  transaction<T>(fn: () => T): T {
    return this.sql.transaction(fn);
  }

  // ---- schema ----
  schemaVersion(): number {
    return schemaVersion(this.sql);
  }
  schemaSql(): string[] {
    return schemaSql(this.sql);
  }

  // ---- pools ----
  listPools(): Pool[] {
    return this.pools.listPools();
  }
  getPool(poolId: PoolId): Pool {
    return this.pools.getPool(poolId);
  }
  poolCounts(): Record<PoolId, [number, number, number]> {
    return this.pools.poolCounts();
  }
  updatePool(poolId: PoolId, name: string, description: string | null | undefined) {
    return this.pools.updatePool(poolId, name, description);
  }
  setPoolEnabled(poolId: PoolId, enabled: boolean): { before: Pool; after: Pool } {
    return this.pools.setPoolEnabled(poolId, enabled);
  }

  // ---- vms ----
  listVms(filter: { pool?: PoolId; priority?: Priority } = {}): Vm[] {
    return this.vms.listVms(filter);
  }
  getVm(vmUuid: string): Vm | null {
    return this.vms.getVm(vmUuid);
  }
  requireVm(vmUuid: string): Vm {
    return this.vms.requireVm(vmUuid);
  }
  getVmByVmId(vmId: number): Vm | null {
    return this.vms.getVmByVmId(vmId);
  }
  lowestFreeVmId(avoid?: ReadonlySet<number>): number {
    return this.vms.lowestFreeVmId(avoid);
  }
  assertCanInsert(vmUuid: string, vmId: number | undefined): void {
    this.vms.assertCanInsert(vmUuid, vmId);
  }
  insertVm(input: NewVm): VmChange {
    return this.vms.insertVm(input);
  }
  updateVm(
    vmUuid: string,
    config: VgpuConfig,
    vmName?: string | null,
    expected?: VgpuConfig,
    o?: { anyPool?: boolean },
  ): VmChange {
    return this.vms.updateVm(vmUuid, config, vmName, expected, o);
  }
  deleteVm(vmUuid: string): VmChange {
    return this.vms.deleteVm(vmUuid);
  }
  undoChange(change: VmChange): boolean {
    return this.vms.undoChange(change);
  }

  // ---- stale runs ----
  listStaleRuns(): StaleRun[] {
    return this.vms.listStaleRuns();
  }
  getStaleRun(vmUuid: string): StaleRun | null {
    return this.vms.getStaleRun(vmUuid);
  }
  markStaleRun(vmUuid: string, reason: string): void {
    this.vms.markStaleRun(vmUuid, reason);
  }
  clearStaleRun(vmUuid: string): void {
    this.vms.clearStaleRun(vmUuid);
  }

  // ---- operation journal ----
  openJournal(e: Omit<JournalEntry, "id" | "startedAt" | "step" | "actor" | "undoFrom">): number {
    return this.journal.openJournal(e);
  }
  advanceJournal(
    id: number,
    step: JournalStep,
    args?: { original: string | null; target: string | null },
  ): void {
    this.journal.advanceJournal(id, step, args);
  }
  markJournalUndoing(id: number, from: ForwardStep): void {
    this.journal.markJournalUndoing(id, from);
  }
  closeJournal(id: number, outcome: string): void {
    this.journal.closeJournal(id, outcome);
  }
  openJournalEntries(vmUuid?: string): JournalEntry[] {
    return this.journal.openJournalEntries(vmUuid);
  }

  // ---- settings and history ----
  recordHistory(vmUuid: string, before: Vm | null, after: Vm | null): void {
    this.settingsHistory.recordHistory(vmUuid, before, after);
  }

  recordPower(vmUuid: string, from: PowerState, to: PowerState, how: string): void {
    this.settingsHistory.recordPower(vmUuid, from, to, how);
  }
  listSettings(): Map<string, string> {
    return this.settingsHistory.listSettings();
  }
  setSetting(key: string, value: string | null): void {
    this.settingsHistory.setSetting(key, value);
  }
  listHistory(o: { vmUuid?: string; limit?: number } = {}): HistoryEntry[] {
    return this.settingsHistory.listHistory(o);
  }

  // ---- export / import ----
  readConfiguration(): StoredConfiguration {
    return readConfiguration(this.sql, {
      pools: this.pools,
      vms: this.vms,
      settings: this.settingsHistory,
    });
  }
  applyImport(plan: () => ImportWrites): ImportWrites {
    return applyImport(this.sql, plan);
  }
  backupTo(base: string): Promise<string> {
    return backupTo(this.sql, base);
  }

  // ---- doctor ----
  /** Opens an existing database read-only and exactly as it is (maintenance.ts). */
  static async inspect(path: string, audit: AuditContext, now: () => Date): Promise<Store> {
    return new Store(await openForInspection(path), path, audit, now);
  }
  integrityCheck(): string[] {
    return integrityCheck(this.sql);
  }
  damagedRows(): DamagedRowError[] {
    return damagedRows(this.sql);
  }
  schemaProblem(): Promise<string | null> {
    return schemaProblem(this.sql);
  }
}

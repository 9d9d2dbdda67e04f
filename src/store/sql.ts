// The one SQLite connection every table module shares: cached statements, the immediate
// transaction (nested calls join the outer one) and the history writer. Each table's SQL lives
// in its own module (vms.ts, pools.ts, journal.ts, settings-history.ts, …); store.ts composes them.
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { VgpuError } from "../domain/errors.ts";
import type { PoolId, Vm } from "../domain/types.ts";
import { sqliteError } from "./open.ts";

/** Who is changing the database and through which command; goes into every history row. */
export interface AuditContext {
  actor: string;
  command: string;
}

export type Row = Record<string, unknown>;

// The rowid comes along so that a damaged row with no usable uuid can still be named.
export const VM_COLUMNS =
  "vm_id, vm_uuid, vm_name, pool_id, priority, created_at, updated_at, rowid AS _rowid";

/** SQLite's CURRENT_TIMESTAMP form (UTC, seconds), so defaults and our writes look alike. */
export function sqlTimestamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace("T", " ");
}

/** The history snapshot of a VM: the configuration, without timestamps. */
export function vmSnapshot(vm: Vm | null): string | null {
  if (vm === null) return null;
  return JSON.stringify({
    vm_uuid: vm.vmUuid,
    vm_name: vm.vmName,
    pool_id: vm.pool,
    priority: vm.priority,
    vm_id: vm.vmId,
  });
}

/** An error raised by SQLite itself (node:sqlite tags them ERR_SQLITE_ERROR), not by our code. */
export function isSqliteFailure(e: unknown): e is Error {
  return e instanceof Error && !(e instanceof VgpuError) &&
    (e as { code?: unknown }).code === "ERR_SQLITE_ERROR";
}

export class Sql {
  #statements = new Map<string, StatementSync>();
  #arrayStatements = new Map<string, StatementSync>();
  #depth = 0;

  constructor(
    readonly db: DatabaseSync,
    readonly path: string,
    readonly audit: AuditContext,
    readonly now: () => Date,
  ) {}

  stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  get<T>(sql: string, ...params: SQLInputValue[]): T | undefined {
    try {
      return this.stmt(sql).get(...params) as T | undefined;
    } catch (e) {
      throw sqliteError(e, this.path);
    }
  }

  all<T>(sql: string, ...params: SQLInputValue[]): T[] {
    try {
      return this.stmt(sql).all(...params) as T[];
    } catch (e) {
      throw sqliteError(e, this.path);
    }
  }

  /**
   * all() with each row read as an array of its columns and turned into `f(values)`: node:sqlite
   * builds arrays about twice as fast as objects, in less memory (9,000 vms rows: ~15 ms and ~6 MB
   * less; issue 19), and no array of raw rows outlives the call.
   */
  allAs<T>(sql: string, f: (values: unknown[]) => T, ...params: SQLInputValue[]): T[] {
    let st = this.#arrayStatements.get(sql);
    if (st === undefined) {
      st = this.db.prepare(sql);
      (st as unknown as { setReturnArrays(on: boolean): void }).setReturnArrays(true);
      this.#arrayStatements.set(sql, st);
    }
    let rows: unknown[][];
    try {
      rows = st.all(...params) as unknown as unknown[][];
    } catch (e) {
      throw sqliteError(e, this.path);
    }
    const out: T[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = f(rows[i]);
    return out;
  }

  /**
   * allAs of an ordered query read `page` rows at a time, in one read transaction: `first` gives
   * the first page, `next` the page after a row, given `after(row)` as its last parameters. The
   * raw rows of a page are garbage before the next page is read: 10,000 of them never live at
   * once (issue 19, peak RSS at 10,000 VMs). `after` must name a unique key of the order.
   */
  pagedAs<T>(
    q: { first: string; next: string; page: number },
    after: (values: unknown[]) => SQLInputValue[],
    f: (values: unknown[]) => T,
    ...params: SQLInputValue[]
  ): T[] {
    return this.read(() => {
      const out: T[] = [];
      let rows = this.#arrays(q.first, params);
      for (;;) {
        for (let i = 0; i < rows.length; i++) out.push(f(rows[i]));
        if (rows.length < q.page) return out;
        rows = this.#arrays(q.next, [...params, ...after(rows[rows.length - 1])]);
      }
    });
  }

  #arrays(sql: string, params: SQLInputValue[]): unknown[][] {
    let st = this.#arrayStatements.get(sql);
    if (st === undefined) {
      st = this.db.prepare(sql);
      (st as unknown as { setReturnArrays(on: boolean): void }).setReturnArrays(true);
      this.#arrayStatements.set(sql, st);
    }
    try {
      return st.all(...params) as unknown as unknown[][];
    } catch (e) {
      throw sqliteError(e, this.path);
    }
  }

  /** A write; call it inside `transaction`, which turns a SQLite failure into a DatabaseError. */
  run(sql: string, ...params: SQLInputValue[]): { changes: number; lastId: number } {
    const r = this.stmt(sql).run(...params);
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
    return this.#outermost("BEGIN IMMEDIATE", fn);
  }

  /**
   * Runs `fn` in one read transaction (plain BEGIN: several SELECTs see one snapshot, as one
   * SELECT would); inside a transaction already open, `fn` simply joins it.
   */
  read<T>(fn: () => T): T {
    if (this.#depth > 0) return fn();
    return this.#outermost("BEGIN", fn);
  }

  /** The outermost transaction: `begin`, then `fn`, then COMMIT; any throw rolls it back. */
  #outermost<T>(begin: "BEGIN" | "BEGIN IMMEDIATE", fn: () => T): T {
    try {
      this.db.exec(begin);
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
      if (!isSqliteFailure(e)) throw e;
      throw sqliteError(e, this.path);
    } finally {
      this.#depth = 0;
    }
  }

  /** Appends one history row (call inside the transaction of the change it records). */
  history(
    vmUuid: string | null,
    poolId: PoolId | null,
    before: string | null,
    after: string | null,
    command = this.audit.command,
  ): number {
    return this.run(
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
}

// What the code expects of the database: checked on every open so that a damaged or
// hand-edited schema gives one clear error instead of a failure half-way through a command.
import type { DatabaseSync } from "node:sqlite";
import { DatabaseError } from "../domain/errors.ts";

export const EXPECTED_TABLES: Readonly<Record<string, readonly string[]>> = {
  pools: ["pool_id", "pool_name", "description", "enabled", "created_at", "updated_at"],
  vms: ["vm_id", "vm_uuid", "vm_name", "pool_id", "priority", "created_at", "updated_at"],
  history: ["id", "at", "actor", "command", "vm_uuid", "pool_id", "before_json", "after_json"],
  settings: ["key", "value", "updated_at"],
  stale_runs: ["vm_uuid", "since", "reason"],
  op_journal: [
    "id",
    "vm_uuid",
    "command",
    "actor",
    "pid",
    "started_at",
    "step",
    "original_json",
    "target_json",
    "closed_at",
    "outcome",
  ],
};

export const EXPECTED_INDEXES: readonly string[] = [
  "idx_vm_uuid",
  "idx_vm_pool",
  "idx_vm_priority",
  "idx_history_vm",
  "idx_vm_pool_vmid",
  "idx_op_journal_open",
];

/** The schema version (sql/00N) that creates each table and index: what an older file must have. */
const SINCE: Readonly<Record<string, number>> = {
  pools: 1,
  vms: 1,
  idx_vm_uuid: 1,
  idx_vm_pool: 1,
  idx_vm_priority: 1,
  history: 2,
  settings: 2,
  idx_history_vm: 2,
  stale_runs: 3,
  idx_vm_pool_vmid: 4,
  op_journal: 5,
  idx_op_journal_open: 5,
};

/**
 * Returns the first problem found, or null when the schema is what the code expects. With
 * `version`, only what migrations 1..version created is expected (an older database before its
 * migration).
 */
export function findSchemaProblem(db: DatabaseSync, version?: number): string | null {
  // A name missing from SINCE (a table added later) is expected only by the full check.
  const wanted = (name: string) =>
    version === undefined || (SINCE[name] ?? Number.POSITIVE_INFINITY) <= version;
  for (const [table, columns] of Object.entries(EXPECTED_TABLES)) {
    if (!wanted(table)) continue;
    const rows = db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as {
      name: string;
    }[];
    if (rows.length === 0) return `table ${table} is missing`;
    const have = new Set(rows.map((r) => r.name));
    const missing = columns.filter((c) => !have.has(c));
    if (missing.length > 0) return `table ${table} lacks column ${missing.join(", ")}`;
  }
  const idx = new Set(
    (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index'`).all() as {
      name: string;
    }[]).map((r) => r.name),
  );
  const missingIdx = EXPECTED_INDEXES.filter((i) => wanted(i) && !idx.has(i));
  if (missingIdx.length > 0) return `index ${missingIdx.join(", ")} is missing`;
  return null;
}

export function schemaError(path: string, problem: string): DatabaseError {
  return new DatabaseError(
    `database ${path} has a damaged schema (${problem}); restore it from a backup, or move it aside and re-import an export`,
  );
}

export function assertSchema(db: DatabaseSync, path: string): void {
  const problem = findSchemaProblem(db);
  if (problem !== null) throw schemaError(path, problem);
}

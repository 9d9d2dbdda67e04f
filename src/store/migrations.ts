// Numbered schema migrations, embedded in the program through text imports (nothing is read
// from the source tree at run time; `deno compile` and `deno bundle` carry them).
import v1 from "../../sql/001_initial.sql" with { type: "text" };
import v2 from "../../sql/002_history_settings.sql" with { type: "text" };
import v3 from "../../sql/003_stale_runs.sql" with { type: "text" };
import v4 from "../../sql/004_vm_order_index.sql" with { type: "text" };
import v5 from "../../sql/005_op_journal.sql" with { type: "text" };

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "001_initial.sql", sql: v1 },
  { version: 2, name: "002_history_settings.sql", sql: v2 },
  { version: 3, name: "003_stale_runs.sql", sql: v3 },
  { version: 4, name: "004_vm_order_index.sql", sql: v4 },
  { version: 5, name: "005_op_journal.sql", sql: v5 },
];

/** The schema version this program writes and expects (`PRAGMA user_version`). */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

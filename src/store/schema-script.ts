// `vgpu-admin schema`: the SQL that creates this version's database, for `sqlite3` (seed 004
// steps 1.3–1.4). Built from the embedded migrations applied to an in-memory database, so it needs
// no database file and always equals what vgpu-admin itself creates.
import { DatabaseSync } from "node:sqlite";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";

/**
 * CREATE … IF NOT EXISTS for every table and index, INSERT OR IGNORE for the rows the migrations
 * create (vGPU pools A and B), then `PRAGMA user_version`: run twice, the second run changes
 * nothing; a pool renamed meanwhile keeps its name.
 */
export function schemaScript(): string {
  const db = new DatabaseSync(":memory:");
  try {
    for (const m of MIGRATIONS) db.exec(m.sql);
    const objects = db.prepare(
      `SELECT type, name, sql FROM sqlite_master
        WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid`,
    ).all() as { type: string; name: string; sql: string }[];
    const creates = objects.map((o) =>
      o.sql.replace(/^CREATE (TABLE|INDEX|UNIQUE INDEX) /, "CREATE $1 IF NOT EXISTS ") + ";"
    );
    const inserts: string[] = [];
    for (const t of objects.filter((o) => o.type === "table")) {
      const cols = (db.prepare(`PRAGMA table_info("${t.name}")`).all() as {
        name: string;
        dflt_value: string | null;
      }[])
        // a creation time is the real insert's, not this in-memory one's
        .filter((c) => c.dflt_value !== "CURRENT_TIMESTAMP").map((c) => c.name);
      if (cols.length === 0) continue;
      const values = cols.map((c) => `quote("${c}")`).join(` || ', ' || `);
      for (const r of db.prepare(`SELECT ${values} AS v FROM "${t.name}" ORDER BY rowid`).all()) {
        inserts.push(
          `INSERT OR IGNORE INTO ${t.name} (${cols.join(", ")}) VALUES (${
            (r as { v: string }).v
          });`,
        );
      }
    }
    return [
      `-- vgpu-admin schema version ${SCHEMA_VERSION}: the database vgpu-admin creates.`,
      `-- vgpu-admin schema | sqlite3 /etc/vgpu/vgpu_config.db   (safe to run again: it changes nothing)`,
      "BEGIN;",
      ...creates,
      ...inserts,
      `PRAGMA user_version = ${SCHEMA_VERSION};`,
      "COMMIT;",
      "",
    ].join("\n");
  } finally {
    db.close();
  }
}

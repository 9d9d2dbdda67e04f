import type { Deps } from "../deps.ts";

export type SchemaOptions = Record<never, never>;

export function parseOptions(_raw: unknown): SchemaOptions {
  return {};
}

/** Prints the SQL of the schema in use, as SQLite keeps it, ready to paste into sqlite3. */
export async function run(_opts: SchemaOptions, deps: Deps): Promise<void> {
  const store = await deps.store();
  deps.io.out.write(
    `-- vgpu-admin schema version ${store.schemaVersion()} (${store.path})\n` +
      store.schemaSql().map((s) => `${s};\n`).join("\n"),
  );
}

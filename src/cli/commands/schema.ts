import type { Deps } from "../deps.ts";
import { schemaScript } from "../../store/schema-script.ts";

export type SchemaOptions = Record<never, never>;

export function parseOptions(_raw: unknown): SchemaOptions {
  return {};
}

/** Prints the SQL that creates this version's database (pools A and B included), for sqlite3. */
export function run(_opts: SchemaOptions, deps: Deps): Promise<void> {
  deps.io.out.write(schemaScript());
  return Promise.resolve();
}

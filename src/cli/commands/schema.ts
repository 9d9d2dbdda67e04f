import type { Deps } from "../deps.ts";
import { schemaScript } from "../../store/schema-script.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export type SchemaOptions = Record<never, never>;

export function parseOptions(_raw: RawOptions): SchemaOptions {
  return {};
}

/** Prints the SQL that creates this version's database (pools A and B included), for sqlite3. */
export function run(_opts: SchemaOptions, deps: Deps): Promise<void> {
  deps.io.out.write(schemaScript());
  return Promise.resolve();
}

export const command = defineCommand({ parseOptions, run });

import { UsageError } from "../../domain/errors.ts";
import { databaseFileOf, exportConfiguration, writeFileAtomic } from "../../ops/transfer.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import { exportedErrLine } from "../render/export.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface ExportOptions {
  /** undefined (or `-`): stdout. */
  output?: string;
}

export function parseOptions(input: RawOptions): ExportOptions {
  const raw = input.pick({ output: "text" });
  if (raw.output !== undefined && raw.output.trim() === "") {
    throw new UsageError("--output needs a file name (or leave it out to print the JSON)");
  }
  return { output: raw.output === "-" ? undefined : raw.output };
}

export async function run(opts: ExportOptions, deps: Deps): Promise<void> {
  const store = await deps.store();
  if (opts.output !== undefined) {
    const own = databaseFileOf(opts.output, store.path);
    if (own !== null) {
      throw new UsageError(`--output ${opts.output} is ${own}; give another file`);
    }
  }
  const file = exportConfiguration(store, deps.now());
  const text = JSON.stringify(file, null, 2) + "\n";
  if (opts.output === undefined) {
    deps.io.out.write(text);
    return;
  }
  const path = writeFileAtomic(opts.output, text);
  writeLines(deps.io.err, [exportedErrLine(file, path)]);
}

export const command = defineCommand({ parseOptions, run });

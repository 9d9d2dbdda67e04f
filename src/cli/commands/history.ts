import { UsageError } from "../../domain/errors.ts";
import { quote } from "../../domain/validate.ts";
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { historyJson, historyTable } from "../render/history.ts";
import { resolveVm, type VmRef, vmRefOf } from "../vm-ref.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface HistoryOptions {
  vm?: VmRef;
  limit?: number;
  format: Format;
}

export function parseOptions(input: RawOptions): HistoryOptions {
  const raw = input.pick({ limit: "text", format: "text" });
  let limit: number | undefined;
  if (raw.limit !== undefined) {
    if (!/^[1-9][0-9]{0,6}$/.test(raw.limit.trim())) {
      throw new UsageError(`invalid --limit ${quote(raw.limit)}: a whole number from 1 to 9999999`);
    }
    limit = Number(raw.limit.trim());
  }
  return {
    vm: vmRefOf(input),
    limit,
    format: parseFormat(raw.format),
  };
}

export async function run(opts: HistoryOptions, deps: Deps): Promise<void> {
  const vmUuid = opts.vm === undefined ? undefined : await resolveVm(opts.vm, deps, "registered");
  const entries = (await deps.store()).listHistory({ vmUuid: vmUuid, limit: opts.limit });
  if (opts.format === "json") {
    writeJson(deps.io.out, historyJson(entries));
    return;
  }
  const table = await historyTable(entries, {
    color: deps.io.color,
    columns: deps.io.columns ?? null,
  });
  deps.io.out.write(table + "\n");
}

export const command = defineCommand({ parseOptions, run });

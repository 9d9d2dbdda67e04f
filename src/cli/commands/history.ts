import { UsageError } from "../../domain/errors.ts";
import { parseUuid, quote } from "../../domain/validate.ts";
import type { HistoryEntry } from "../../store/store.ts";
import type { HistoryJson } from "../render/json-types.ts";
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { priorityName } from "../../domain/types.ts";
import { humanTime } from "../../domain/time.ts";
import { printable } from "../../domain/printable.ts";
import { fittedTable } from "../render/table.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface HistoryOptions {
  vmUuid?: string;
  limit?: number;
  format: Format;
}

export function parseOptions(input: RawOptions): HistoryOptions {
  const raw = input.pick({ vmUuid: "text", limit: "text", format: "text" });
  let limit: number | undefined;
  if (raw.limit !== undefined) {
    if (!/^[1-9][0-9]{0,6}$/.test(raw.limit.trim())) {
      throw new UsageError(`invalid --limit ${quote(raw.limit)}: a whole number from 1 to 9999999`);
    }
    limit = Number(raw.limit.trim());
  }
  return {
    vmUuid: raw.vmUuid === undefined ? undefined : parseUuid(raw.vmUuid),
    limit,
    format: parseFormat(raw.format),
  };
}

/** One value of a snapshot as the other views show it: priority by name, text quoted. */
function shown(key: string, x: unknown): string {
  if (key === "priority" && (x === 0 || x === 1 || x === 2)) return priorityName(x);
  if (typeof x === "string" && key !== "pool_id") return JSON.stringify(x);
  return String(x);
}

/** `vm_name="web, db" pool_id=A priority=low vm_id=7`: names are quoted (they may hold spaces). */
export function summary(v: Record<string, unknown> | null): string {
  if (v === null) return "-";
  return Object.entries(v).filter(([k]) => k !== "vm_uuid").map(([k, x]) => `${k}=${shown(k, x)}`)
    .join(" ");
}

function subject(h: HistoryEntry): string {
  if (h.vmUuid !== null) return h.vmUuid;
  if (h.poolId !== null) return `vGPU pool ${h.poolId}`;
  return "settings";
}

export function historyJson(entries: readonly HistoryEntry[]): HistoryJson {
  return {
    history: entries.map((h) => ({
      id: h.id,
      at: h.at,
      actor: h.actor,
      command: h.command,
      vm_uuid: h.vmUuid,
      pool_id: h.poolId,
      before: h.before,
      after: h.after,
    })),
  };
}

export async function run(opts: HistoryOptions, deps: Deps): Promise<void> {
  const entries = (await deps.store()).listHistory({ vmUuid: opts.vmUuid, limit: opts.limit });
  if (opts.format === "json") {
    writeJson(deps.io.out, historyJson(entries));
    return;
  }
  if (entries.length === 0) {
    deps.io.out.write("No changes recorded.\n");
    return;
  }
  const table = await fittedTable(
    ["Time", "Actor", "Command", "Subject", "Before", "After"],
    entries.map((h) =>
      [humanTime(h.at), h.actor, h.command, subject(h), summary(h.before), summary(h.after)]
        .map(printable) // USER, names and a damaged row's text come from outside
    ),
    {
      color: deps.io.color,
      columns: deps.io.columns ?? null,
      kinds: ["fixed", "shrink", "fixed", "fixed", "shrink", "shrink"],
      // A configuration cut below ~32 columns says nothing: print blocks instead.
      minWidths: [undefined, undefined, undefined, undefined, 32, 32],
    },
  );
  deps.io.out.write(table + "\n");
}

export const command = defineCommand({ parseOptions, run });

import { UsageError } from "../../domain/errors.ts";
import { parseUuid, quote } from "../../domain/validate.ts";
import type { HistoryEntry } from "../../store/store.ts";
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { renderTable } from "../render/table.ts";

export interface HistoryOptions {
  vmUuid?: string;
  limit?: number;
  format: Format;
}

export function parseOptions(
  raw: { vmUuid?: string; limit?: string; format?: string },
): HistoryOptions {
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

function summary(v: Record<string, unknown> | null): string {
  if (v === null) return "-";
  return Object.entries(v).filter(([k]) => k !== "vm_uuid").map(([k, x]) => `${k}=${x}`).join(" ");
}

function subject(h: HistoryEntry): string {
  if (h.vmUuid !== null) return h.vmUuid;
  if (h.poolId !== null) return `vGPU pool ${h.poolId}`;
  return "settings";
}

export async function run(opts: HistoryOptions, deps: Deps): Promise<void> {
  const entries = (await deps.store()).listHistory({ vmUuid: opts.vmUuid, limit: opts.limit });
  if (opts.format === "json") {
    writeJson(deps.io.out, {
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
    });
    return;
  }
  if (entries.length === 0) {
    deps.io.out.write("No changes recorded.\n");
    return;
  }
  const table = renderTable(
    ["Time", "Actor", "Command", "Subject", "Before", "After"],
    entries.map((h) => [h.at, h.actor, h.command, subject(h), summary(h.before), summary(h.after)]),
    deps.io.color,
  );
  deps.io.out.write(table + "\n");
}

// history: one row per change, showing what changed (before -> after per field), never two whole
// snapshots cut in the middle (issue 18 C12). Power rows (a VM vgpu-admin stopped or started) read
// `power running -> halted (clean shutdown)`. JSON keeps both snapshots (docs/json.md).
import { printable } from "../../domain/printable.ts";
import { priorityName } from "../../domain/types.ts";
import { humanTime } from "../../domain/time.ts";
import type { HistoryEntry } from "../../store/store.ts";
import type { HistoryJson } from "./json-types.ts";
import { fittedTable } from "./table.ts";

/** One value of a snapshot as the other views show it: priority by name, text quoted. */
function shown(key: string, x: unknown): string {
  if (key === "priority" && (x === 0 || x === 1 || x === 2)) return priorityName(x);
  if (typeof x === "string" && key !== "pool_id" && key !== "power") return JSON.stringify(x);
  return String(x);
}

/** `vm_name="web, db" pool_id=A priority=low vm_id=7`: names are quoted (they may hold spaces). */
export function summary(v: Record<string, unknown> | null): string {
  if (v === null) return "-";
  return Object.entries(v).filter(([k]) => k !== "vm_uuid").map(([k, x]) => `${k}=${shown(k, x)}`)
    .join(" ");
}

/**
 * What one history row changed: `new: …` (created), `removed: …` (deleted), else each field
 * that differs as `field before -> after`; a power row as `power running -> halted (how)`.
 */
export function changeText(
  before: Record<string, unknown> | null,
  after: Record<string, unknown> | null,
): string {
  if (before === null && after === null) return "-";
  if (before === null) return `new: ${summary(after)}`;
  if (after === null) return `removed: ${summary(before)}`;
  const how = typeof after.how === "string" ? ` (${after.how})` : "";
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((k) => k !== "vm_uuid" && k !== "how");
  const changed = keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
    .map((k) =>
      `${k} ${k in before ? shown(k, before[k]) : "-"} -> ${k in after ? shown(k, after[k]) : "-"}`
    );
  return changed.length === 0 ? `no change${how}` : `${changed.join(", ")}${how}`;
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

/** The history table: on a terminal it fits the width (the change column is cut in its middle). */
export async function historyTable(
  entries: readonly HistoryEntry[],
  o: { color: boolean; columns: number | null },
): Promise<string> {
  if (entries.length === 0) return "No changes recorded.";
  return await fittedTable(
    ["Time", "Actor", "Command", "Subject", "Change"],
    entries.map((h) =>
      [humanTime(h.at), h.actor, h.command, subject(h), changeText(h.before, h.after)]
        .map(printable) // USER, names and a damaged row's text come from outside
    ),
    {
      color: o.color,
      columns: o.columns,
      kinds: ["fixed", "shrink", "fixed", "fixed", "shrink"],
      // A change cut below ~32 columns says nothing: print blocks instead.
      minWidths: [undefined, undefined, undefined, undefined, 32],
    },
  );
}

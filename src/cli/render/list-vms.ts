// list-vms: the table (by pool, then vm_id, as the store lists them) or the JSON document, from
// the rows the command reads and the pools they are in (issue 20 item 5).
import {
  type Pool,
  type PoolId,
  type Priority,
  priorityName,
  type Vm,
} from "../../domain/types.ts";
import { mapped } from "../format.ts";
import { jsonSafe } from "../../domain/printable.ts";
import { registeredText } from "./scan-json-text.ts";
import type { ListVmsJson } from "./json-types.ts";
import { measureFor, tableLines } from "./table.ts";
import { vmJson, vmLabel } from "./vm-fields.ts";

/** The registered VMs that passed the filter, and every pool by id. */
export interface ListVmsView {
  filter: { pool?: PoolId; priority?: Priority };
  vms: readonly Vm[];
  pools: ReadonlyMap<PoolId, Pool>;
}

export function listVmsJson(view: ListVmsView): ListVmsJson {
  const { filter, pools } = view;
  // As writeJson writes it: each VM straight to its text (no objects built, issue 19), its
  // pool's two members made once per pool.
  const members = new Map<PoolId, string>();
  const poolMembers = (id: PoolId, i: string): string => {
    let m = members.get(id);
    if (m === undefined) {
      const p = pools.get(id);
      const n = i + "  ";
      m = `,\n${n}"pool_name": ${jsonSafe(JSON.stringify(p?.name ?? id))},\n` +
        `${n}"pool_enabled": ${p?.enabled ?? true}`;
      members.set(id, m);
    }
    return m;
  };
  return {
    filter: {
      pool_id: filter.pool ?? null,
      priority: filter.priority === undefined ? null : priorityName(filter.priority),
    },
    vms: mapped(view.vms, (v) => {
      // vmJson's object itself, extended: no second object per VM (issue 19, 10,000 VMs)
      const j = vmJson(v) as ListVmsJson["vms"][number];
      const p = pools.get(v.pool);
      j.pool_name = p?.name ?? v.pool;
      j.pool_enabled = p?.enabled ?? true;
      return j;
    }, (v, i) => registeredText(v, i, poolMembers(v.pool, i))),
  };
}

/** The table and a count line; on a terminal names give way first, uuids and ids never. */
export async function listVmsLines(
  view: ListVmsView,
  o: { color: boolean; columns: number | null },
): Promise<Iterable<string>> {
  const { filter, vms, pools } = view;
  if (vms.length === 0) {
    const filters = [
      filter.pool === undefined ? "" : ` in vGPU pool ${filter.pool}`,
      filter.priority === undefined ? "" : ` with priority ${priorityName(filter.priority)}`,
    ].join("");
    return [
      filters === ""
        ? "No VMs registered. Register one with 'vgpu-admin register-vm --vm-uuid=UUID'."
        : `No registered VMs${filters}.`,
    ];
  }
  // one cell text per pool, not one per VM
  const poolCell = new Map<PoolId, string>();
  for (const [id, p] of pools) {
    poolCell.set(id, `${id} (${p.name}${p.enabled ? "" : ", disabled"})`);
  }
  const head = ["VM ID", "UUID", "Name", "vGPU Pool", "Priority"];
  const rows = vms.map((v) => [
    v.vmId,
    v.vmUuid,
    vmLabel(v),
    poolCell.get(v.pool)!,
    priorityName(v.priority),
  ]);
  // Only names and pool names can need the width library: ids are digits, uuids (decoded as
  // lower-case uuids) and priority names are ASCII. Not 50,000 cells looked at for 10,000 VMs.
  const measure = await measureFor(textCells(head, rows, [2], poolCell.values()));
  const lines = tableLines(head, rows, o.color, {
    columns: o.columns,
    kinds: ["fixed", "fixed", "shrink", "shrink", "fixed"],
    measure,
  });
  return withCount(lines, vms.length);
}

/** The head, column `cols` of every row, and `more`: the cells whose width may need measuring. */
function* textCells(
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  cols: readonly number[],
  more: Iterable<string>,
): Generator<string> {
  yield* head;
  yield* more;
  for (const r of rows) for (const c of cols) yield r[c] as string;
}

function* withCount(lines: Iterable<string>, n: number): Generator<string> {
  yield* lines;
  yield `${n} VM${n === 1 ? "" : "s"}`;
}

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
import type { ListVmsJson } from "./json-types.ts";
import { fittedTableLines } from "./table.ts";
import { vmJson, vmLabel } from "./vm-fields.ts";

/** The registered VMs that passed the filter, and every pool by id. */
export interface ListVmsView {
  filter: { pool?: PoolId; priority?: Priority };
  vms: readonly Vm[];
  pools: ReadonlyMap<PoolId, Pool>;
}

export function listVmsJson(view: ListVmsView): ListVmsJson {
  const { filter, pools } = view;
  return {
    filter: {
      pool_id: filter.pool ?? null,
      priority: filter.priority === undefined ? null : priorityName(filter.priority),
    },
    vms: mapped(view.vms, (v) => ({
      ...vmJson(v),
      pool_name: pools.get(v.pool)?.name ?? v.pool,
      pool_enabled: pools.get(v.pool)?.enabled ?? true,
    })),
  };
}

/** The table and a count line; on a terminal names give way first, uuids and ids never. */
export async function listVmsLines(
  view: ListVmsView,
  o: { color: boolean; columns: number | null },
): Promise<string[]> {
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
  const lines = await fittedTableLines(
    ["VM ID", "UUID", "Name", "vGPU Pool", "Priority"],
    vms.map((v) => {
      const p = pools.get(v.pool)!;
      const pool = `${v.pool} (${p.name}${p.enabled ? "" : ", disabled"})`;
      return [v.vmId, v.vmUuid, vmLabel(v), pool, priorityName(v.priority)];
    }),
    {
      color: o.color,
      columns: o.columns,
      kinds: ["fixed", "fixed", "shrink", "shrink", "fixed"],
    },
  );
  lines.push(`${vms.length} VM${vms.length === 1 ? "" : "s"}`);
  return lines;
}

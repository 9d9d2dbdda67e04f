import {
  type Pool,
  type PoolId,
  type Priority,
  priorityName,
  type Vm,
} from "../../domain/types.ts";
import type { ListVmsJson } from "../render/json-types.ts";
import { parsePoolId, parsePriority } from "../../domain/validate.ts";
import type { Deps } from "../deps.ts";
import { type Format, mapped, parseFormat, writeJson } from "../format.ts";
import { writeLines } from "../io.ts";
import { fittedTableLines } from "../render/table.ts";
import { vmJson, vmLabel } from "../render/vm-fields.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface ListVmsOptions {
  pool?: PoolId;
  priority?: Priority;
  format: Format;
}

export function parseOptions(input: RawOptions): ListVmsOptions {
  const raw = input.pick({ pool: "text", priority: "text", format: "text" });
  return {
    pool: raw.pool === undefined ? undefined : parsePoolId(raw.pool),
    priority: raw.priority === undefined ? undefined : parsePriority(raw.priority),
    format: parseFormat(raw.format),
  };
}

export function listVmsJson(
  opts: ListVmsOptions,
  vms: readonly Vm[],
  pools: ReadonlyMap<PoolId, Pool>,
): ListVmsJson {
  return {
    filter: {
      pool_id: opts.pool ?? null,
      priority: opts.priority === undefined ? null : priorityName(opts.priority),
    },
    vms: mapped(vms, (v) => ({
      ...vmJson(v),
      pool_name: pools.get(v.pool)?.name ?? v.pool,
      pool_enabled: pools.get(v.pool)?.enabled ?? true,
    })),
  };
}

export async function run(opts: ListVmsOptions, deps: Deps): Promise<void> {
  const store = await deps.store();
  const vms = store.listVms({ pool: opts.pool, priority: opts.priority });
  // seed 000 step 3.7: each VM's pool with its name and status
  const pools = new Map(store.listPools().map((p) => [p.poolId, p]));
  const out = deps.io.out;
  if (opts.format === "json") {
    writeJson(out, listVmsJson(opts, vms, pools));
    return;
  }
  if (vms.length === 0) {
    const filters = [
      opts.pool === undefined ? "" : ` in vGPU pool ${opts.pool}`,
      opts.priority === undefined ? "" : ` with priority ${priorityName(opts.priority)}`,
    ].join("");
    out.write(
      filters === ""
        ? "No VMs registered. Register one with 'vgpu-admin register-vm --vm-uuid=UUID'.\n"
        : `No registered VMs${filters}.\n`,
    );
    return;
  }
  const lines = await fittedTableLines(
    ["VM ID", "UUID", "Name", "vGPU Pool", "Priority"],
    vms.map((v) => {
      const p = pools.get(v.pool)!;
      const pool = `${v.pool} (${p.name}${p.enabled ? "" : ", disabled"})`;
      return [v.vmId, v.vmUuid, vmLabel(v), pool, priorityName(v.priority)];
    }),
    {
      color: deps.io.color,
      columns: deps.io.columns ?? null,
      // names (the VM's and the pool's) give way on a narrow terminal; uuids and ids never
      kinds: ["fixed", "fixed", "shrink", "shrink", "fixed"],
    },
  );
  lines.push(`${vms.length} VM${vms.length === 1 ? "" : "s"}`);
  writeLines(out, lines); // in pieces: 10,000 rows are never one string (issue 19)
}

export const command = defineCommand({ parseOptions, run });

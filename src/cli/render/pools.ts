// list-pools and show-pool: the line layouts of seed 000, and their JSON shapes; the lines of
// set-pool-name, enable-pool and disable-pool.
import { humanTime } from "../../domain/time.ts";
import type {
  PoolDetail,
  PoolSummary,
  RenamePoolResult,
  SetPoolEnabledResult,
} from "../../ops/pools.ts";
import type { Vm } from "../../domain/types.ts";
import { priorityName } from "../../domain/types.ts";
import type { ListPoolsJson, PoolJson, ShowPoolJson } from "./json-types.ts";
import type { Paint } from "./style.ts";
import { vmJson, vmLabel } from "./vm-fields.ts";
import { printable } from "../../domain/printable.ts";

function enabledWord(p: PoolSummary): string {
  return p.enabled ? "Enabled" : "Disabled";
}

/** `VMs: 7 (3 high, 2 medium, 2 low)`; an empty pool reads `VMs: 0` (seed 000). */
export function vmCountText(p: PoolSummary): string {
  if (p.total === 0) return "VMs: 0";
  return `VMs: ${p.total} (${p.counts[2]} high, ${p.counts[1]} medium, ${p.counts[0]} low)`;
}

export function listPoolsLines(pools: readonly PoolSummary[], c: Paint): string[] {
  return [
    c.bold(`=== Pools (${pools.length}) ===`),
    ...pools.map((p) =>
      `Pool ${p.poolId}: ${printable(JSON.stringify(p.name))} | ${enabledWord(p)} | ${
        vmCountText(p)
      }`
    ),
  ];
}

/** `  VM-1 (UUID: <uuid>) | Priority: high | VM ID: 1`, as in show-pool and status. */
export function poolVmLine(vm: Vm): string {
  return `  ${vmLabel(vm)} (UUID: ${vm.vmUuid}) | Priority: ${
    priorityName(vm.priority)
  } | VM ID: ${vm.vmId}`;
}

/** VMs of one pool by vm_id (design.md §3). */
export function byVmId(vms: readonly Vm[]): Vm[] {
  return [...vms].sort((a, b) => a.vmId - b.vmId);
}

export function showPoolLines(d: PoolDetail, c: Paint): string[] {
  const p = d.pool;
  const lines = [
    c.bold(`=== Pool ${p.poolId}: ${printable(p.name)} ===`),
    `Status: ${enabledWord(p)}`,
  ];
  if (p.description !== null) lines.push(`Description: ${printable(p.description)}`);
  lines.push(`Created: ${humanTime(p.createdAt)}`, `VMs: ${p.total}`, "", "VM List:");
  if (d.vms.length === 0) lines.push("  (none)");
  for (const vm of byVmId(d.vms)) lines.push(poolVmLine(vm));
  lines.push(
    "",
    "Priority Distribution:",
    `  High: ${p.counts[2]} VMs`,
    `  Medium: ${p.counts[1]} VMs`,
    `  Low: ${p.counts[0]} VMs`,
  );
  return lines;
}

export function poolJson(p: PoolSummary): PoolJson {
  return {
    pool_id: p.poolId,
    name: p.name,
    description: p.description,
    enabled: p.enabled,
    vm_count: p.total,
    priorities: { high: p.counts[2], medium: p.counts[1], low: p.counts[0] },
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
}

export function showPoolJson(d: PoolDetail): ShowPoolJson {
  return { pool: poolJson(d.pool), vms: byVmId(d.vms).map(vmJson) };
}

export function listPoolsJson(pools: readonly PoolSummary[]): ListPoolsJson {
  return { pools: pools.map(poolJson) };
}

/** set-pool-name: the rename (or that nothing changed), and the new description if it changed. */
export function renamedLines(r: RenamePoolResult): string[] {
  const id = r.after.poolId;
  if (!r.changed) {
    return [`vGPU pool ${id} is already named ${JSON.stringify(r.after.name)}; nothing changed.`];
  }
  const lines = [
    `vGPU pool ${id} renamed: ${JSON.stringify(r.before.name)} -> ${JSON.stringify(r.after.name)}`,
  ];
  if (r.before.description !== r.after.description) {
    lines.push(`Description: ${r.after.description ?? "(none)"}`);
  }
  return lines;
}

/** enable-pool and disable-pool: the new state (or that nothing changed) and the pool's VMs. */
export function poolEnabledLine(r: SetPoolEnabledResult, vms: number): string {
  const p = r.pool;
  const pool = `vGPU pool ${p.poolId} (${JSON.stringify(p.name)})`;
  const state = p.enabled ? "enabled" : "disabled";
  if (!r.changed) return `${pool} is already ${state}; nothing changed.`;
  const n = `${vms} VM${vms === 1 ? "" : "s"}`;
  return p.enabled
    ? `${pool} enabled: it takes new VMs again (${n} in it).`
    : `${pool} disabled: it takes no new VMs; its ${n} keep${
      vms === 1 ? "s its" : " their"
    } configuration and args.`;
}

// Renderers of pool mode's views (`pool enable`, `pool status`): lines and JSON of one view each.
import { cacheBanner } from "../../ops/pool-read.ts";
import { priorityName } from "../../domain/types.ts";
import type { EnablePlan, SeenRegistration } from "../../ops/pool-enable.ts";
import { where } from "../../xe/pool.ts";
import type { RedoLog } from "../../xe/xapi-local.ts";
import { printable } from "../../domain/printable.ts";
import type { PoolStatusView } from "../../ops/pool-status.ts";

function reg(r: SeenRegistration): string {
  const cfg = r.pool === null
    ? "no vgpu-stub args"
    : `vGPU pool ${r.pool}, ${r.priority === null ? "?" : priorityName(r.priority)}`;
  return `  VM ID ${r.vmId} | ${r.vmUuid} | ${r.name} | ${cfg}`;
}

/** What `pool enable` found and will do (the whole answer of --dry-run). */
export function enablePlanLines(p: EnablePlan, dryRun: boolean): string[] {
  const lines = [
    p.format === null
      ? `Pool mode is off on pool ${p.poolUuid} (master ${p.masterName}): ${
        dryRun ? "enabling would turn it on" : "this host turns it on"
      } (format ${1}).`
      : `Pool mode is on (format ${p.format}, master ${p.masterName}): ${p.thisHost} ${
        dryRun ? "would join" : "joins"
      }.`,
    "",
    `This host (${p.thisHost}), its database: ${p.local.length} registration${
      p.local.length === 1 ? "" : "s"
    }`,
    ...p.local.map(reg),
  ];
  if (p.claimed.length > 0) {
    lines.push("", `Already claimed in the pool: ${p.claimed.length}`, ...p.claimed.map(reg));
  }
  for (const g of p.elsewhere) {
    lines.push(
      "",
      `VMs carrying vgpu-stub args, not claimed, ${
        where(g.hostName)
      } (registered in some host's database; that host claims them when it joins): ${g.vms.length}`,
      ...g.vms.map(reg),
    );
  }
  lines.push("");
  if (p.collisions.length === 0) {
    lines.push("vm_id collisions: none");
  } else {
    lines.push(
      `vm_id collisions: ${p.collisions.length} (never renumbered by vgpu-admin; fix each first)`,
    );
    for (const c of p.collisions) {
      lines.push(
        c.first.vmUuid === c.second.vmUuid
          ? `  VM ${c.first.vmUuid} (${c.first.name}): VM ID ${c.first.vmId} claimed in the pool, VM ID ${c.second.vmId} in the ${c.second.source}`
          : `  VM ID ${c.vmId}: VM ${c.first.vmUuid} (${c.first.name}, ${c.first.source}) and VM ${c.second.vmUuid} (${c.second.name}, ${c.second.source})`,
        `    fix: ${c.fix}`,
      );
    }
  }
  lines.push(`Claims to add for this host: ${p.toClaim.length}`);
  if (!p.haEnabled && p.redoLog.state !== "on") lines.push(durabilityWarning(p.redoLog));
  return lines;
}

/** The warning when neither HA nor (as far as this host can tell) the redo log is on. */
function durabilityWarning(redo: RedoLog): string {
  const why = redo.state === "unknown"
    ? `HA is off and the redo log cannot be told (${printable(redo.why)}): without either,`
    : "neither HA nor the redo log is on:";
  return `warning: ${why} a master crash can roll back up to ~5 minutes of claims (xe pool-enable-redo-log); run 'vgpu-admin pool reconcile' after one`;
}

export function poolStatusLines(v: PoolStatusView, now: Date): string[] {
  const lines: string[] = [];
  if (v.cached !== null) {
    lines.push(cacheBanner(v.cached.masterName, v.cached.refreshedAt, v.cached.reason, now));
  }
  lines.push(
    "==================== Pool mode ====================",
    `Pool mode: ${v.on ? `on (format ${v.format})` : "off"}${
      v.on && !v.joined ? " | this host has not joined: run 'vgpu-admin pool enable'" : ""
    }`,
  );
  if (v.master !== null) lines.push(`Master: ${v.master.name} (${v.master.uuid})`);
  if (v.haEnabled !== null && v.redoLog !== null) {
    const redo = v.redoLog;
    lines.push(
      `HA: ${v.haEnabled ? "on" : "off"} | Redo log: ${
        redo.state === "unknown" ? `unknown (${printable(redo.why)})` : redo.state
      }${
        v.on && !v.haEnabled && redo.state !== "on"
          ? " (a master crash can roll back recent claims: run 'vgpu-admin pool reconcile' after one)"
          : ""
      }`,
    );
  }
  if (v.hosts.length > 0) {
    lines.push("", "Hosts:");
    for (const h of v.hosts) {
      lines.push(
        `  ${h.name}${h.master ? " (master)" : ""} | ${h.alive ? "alive" : "DEAD"} | ${
          h.member === null ? "vgpu-admin: not joined" : `vgpu-admin: joined (${h.member})`
        } | VMs running: A ${h.vms.A}, B ${h.vms.B}`,
      );
    }
  }
  // after a rollback or a wiped other-config the claims are gone but the VMs still carry their
  // args (and every host's database its rows): say so beside the count, not only further down
  const unclaimed = v.problems.filter((p) => p.kind === "args-without-claim").length;
  lines.push(
    "",
    `Registry: ${v.registry.length} VM${v.registry.length === 1 ? "" : "s"}${
      unclaimed === 0
        ? ""
        : `; ${unclaimed} more VM${
          unclaimed === 1 ? " carries" : "s carry"
        } vgpu-stub args without a vm_id claim (see Inconsistencies)`
    }`,
  );
  for (const e of v.registry) {
    lines.push(
      `  VM ID ${e.vmId} | ${e.vmUuid} | ${e.name} | ${
        e.pool === null ? "no args" : `vGPU pool ${e.pool}, ${priorityName(e.priority!)}`
      } | ${e.runsOn === null ? "not running" : `on ${e.runsOn}`}`,
    );
  }
  if (v.cached === null) {
    lines.push("", `Inconsistencies: ${v.problems.length === 0 ? "none" : v.problems.length}`);
    for (const p of v.problems) lines.push(`  ⚠ ${p.text}`, `    fix: ${p.fix}`);
  }
  return lines;
}

export function poolStatusJson(v: PoolStatusView): object {
  return {
    pool_mode: v.on,
    format: v.format,
    joined: v.joined,
    master: v.master,
    ha_enabled: v.haEnabled,
    redo_log_enabled: v.redoLog === null || v.redoLog.state === "unknown"
      ? null
      : v.redoLog.state === "on",
    hosts: v.hosts.map((h) => ({
      uuid: h.uuid,
      name: h.name,
      alive: h.alive,
      master: h.master,
      member: h.member,
      vms: h.vms,
    })),
    registry: v.registry.map((e) => ({
      vm_id: e.vmId,
      vm_uuid: e.vmUuid,
      vm_name: e.name,
      pool_id: e.pool,
      priority: e.priority === null ? null : priorityName(e.priority),
      runs_on: e.runsOn,
    })),
    problems: v.problems.map((p) => ({ kind: p.kind, detail: p.text, fix: p.fix })),
    cached: v.cached === null ? null : {
      master: v.cached.masterName,
      refreshed_at: v.cached.refreshedAt,
      reason: v.cached.reason,
    },
  };
}

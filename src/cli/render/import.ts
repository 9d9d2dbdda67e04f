// import: the plan shown before the question, what was imported, and what was written to each
// VM, from the ops' plain results (ImportPlan, HostReport) (issue 20 item 5: ops return a view,
// render prints it). Lines go to stdout unless their name says err.
import { humanTime } from "../../domain/time.ts";
import { priorityName, type VgpuConfig } from "../../domain/types.ts";
import type { HostReport, HostWrite, ImportPlan } from "../../ops/transfer.ts";
import { xeCommandLine } from "../../xe/client.ts";
import type { Paint } from "./style.ts";
import { vmLabel } from "./vm-fields.ts";

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const text = (s: string | null) => (s === null ? "(none)" : JSON.stringify(s));
const configText = (c: VgpuConfig) =>
  `vGPU pool ${c.pool}, priority ${priorityName(c.priority)}, VM ID ${c.vmId}`;

export const IMPORT_DRY_RUN_LINE = "Nothing was changed (--dry-run).";
export const IMPORT_OFFLINE_LINE =
  "Not written to the VMs (--offline): run 'vgpu-admin sync' on the host to apply them.";

export function importQuestion(dbPath: string): string {
  return `Apply this import to ${dbPath}? (yes/no):`;
}

export function nothingToImportLine(label: string, plan: ImportPlan): string {
  return `Nothing to import: the database already matches ${label} (${
    plural(plan.unchangedVms, "VM")
  }).`;
}

/** The plan, as counts then one line per VM, pool and setting that changes. */
export function importPlanLines(
  plan: ImportPlan,
  label: string,
  exportedAt: string | null,
): string[] {
  const from = exportedAt === null ? "" : ` (exported ${humanTime(exportedAt)})`;
  const replace = plan.mode === "replace";
  const lines = [
    `Import from ${label}${from}, ${replace ? "replacing the configuration" : "merging"}:`,
    `  VMs: ${plan.added.length} to add, ${plan.changed.length} to change, ${plan.unchangedVms} unchanged${
      replace ? `, ${plan.removed.length} to remove` : ""
    }`,
    `  vGPU pools: ${plan.pools.length} to change, ${plan.unchangedPools} unchanged`,
    `  settings: ${plan.settings.length} to change, ${plan.unchangedSettings} unchanged`,
  ];
  for (const a of plan.added) lines.push(`  + VM ${a.vmUuid} (${vmLabel(a)}): ${configText(a)}`);
  for (const { before: b, after: a } of plan.changed) {
    const d: string[] = [];
    if (b.pool !== a.pool) d.push(`vGPU pool ${b.pool} -> ${a.pool}`);
    if (b.priority !== a.priority) {
      d.push(`priority ${priorityName(b.priority)} -> ${priorityName(a.priority)}`);
    }
    if (b.vmId !== a.vmId) d.push(`VM ID ${b.vmId} -> ${a.vmId}`);
    if (b.vmName !== a.vmName) d.push(`name ${text(b.vmName)} -> ${text(a.vmName)}`);
    lines.push(`  ~ VM ${a.vmUuid} (${vmLabel(b)}): ${d.join(", ")}`);
  }
  for (const r of plan.removed) lines.push(`  - VM ${r.vmUuid} (${vmLabel(r)}): ${configText(r)}`);
  for (const { before: b, after: a } of plan.pools) {
    const d: string[] = [];
    if (b.name !== a.name) d.push(`name ${text(b.name)} -> ${text(a.name)}`);
    if (b.description !== a.description) {
      d.push(`description ${text(b.description)} -> ${text(a.description)}`);
    }
    if (b.enabled !== a.enabled) d.push(a.enabled ? "enabled" : "disabled");
    lines.push(`  ~ vGPU pool ${b.poolId}: ${d.join(", ")}`);
  }
  for (const s of plan.settings) {
    const v = (x: string | null) => (x === null ? "(default)" : x);
    lines.push(`  ~ setting ${s.key}: ${v(s.before)} -> ${v(s.after)}`);
  }
  return lines;
}

/** stderr, before the import replaces the database. */
export function backupErrLine(path: string): string {
  return `Backed up the database to ${path} before replacing it`;
}

/** The counts of what the import changed in the database. */
export function importedLine(label: string, applied: ImportPlan): string {
  return `Imported ${label}: ${applied.added.length} added, ${applied.changed.length} changed, ${applied.removed.length} removed; ${
    plural(applied.pools.length, "vGPU pool")
  } and ${plural(applied.settings.length, "setting")} changed.`;
}

/** stderr: the host could not be read after the commit. */
export function hostUnreadableErrLine(hostError: string): string {
  return `error: the host could not be read, so no VM's args were written: ${hostError}; ` +
    `the database keeps the import: run 'vgpu-admin sync' once xe works`;
}

/** stderr: some VMs' args could not be written (each is listed on stdout). */
export function writesFailedErrLine(report: HostReport): string {
  const failed = report.writes.filter((w) => w.result === "failed").length;
  return `error: ${plural(failed, "VM")} of ${report.writes.length} could not be written ` +
    `(listed above); the database keeps the import: run 'vgpu-admin sync' to write them`;
}

/** One line per VM the import wrote to (or meant to): ✓ written or in sync, ⚠ absent, ✗ failed. */
export function importHostLines(report: HostReport, c: Paint, platformKey: string): string[] {
  const label = (w: HostWrite) => `VM ${w.vmUuid} (${vmLabel(w)})`;
  return report.writes.map((w) => {
    const running = w.powerState !== null && w.powerState !== "halted";
    const set = w.action === "set";
    switch (w.result) {
      case "not-on-host":
        return set
          ? `${c.warn("⚠")} ${
            label(w)
          }: not on this host; 'vgpu-admin sync' applies its args when it is`
          : `${c.warn("⚠")} ${label(w)}: not on this host; no args to change`;
      case "in-sync":
        return set
          ? `${c.ok("✓")} ${label(w)}: already carries its vgpu-stub args`
          : `${c.ok("✓")} ${label(w)}: carries no vgpu-stub device`;
      case "wrote":
        return set
          ? `${c.ok("✓")} ${label(w)}: wrote ${w.argsAfter}${
            running
              ? ` (the VM is ${w.powerState}: it gets these args at its next start; restart it to apply)`
              : ""
          }`
          : `${c.ok("✓")} ${label(w)}: removed its vgpu-stub device${
            running ? ` (the VM is ${w.powerState} and keeps it until its next start)` : ""
          }`;
      case "failed": {
        if (set) return `${c.bad("✗")} ${label(w)}: could not write its args: ${w.error}`;
        const fix = w.argsAfter === null
          ? xeCommandLine([
            "vm-param-remove",
            `uuid=${w.vmUuid}`,
            "param-name=platform",
            `param-key=${platformKey}`,
          ])
          : xeCommandLine([
            "vm-param-set",
            `uuid=${w.vmUuid}`,
            `platform:${platformKey}=${w.argsAfter}`,
          ]);
        return `${c.bad("✗")} ${label(w)}: could not remove its vgpu-stub device: ${w.error}; ` +
          `it is no longer registered: remove the device by hand (${fix})`;
      }
    }
  });
}

// status: the control panel of seed 001 (pools, their VMs, unregistered VMs, summary), with
// each VM's drift and stale-start marks when the host could be read.
import { printable } from "../../domain/printable.ts";
import { humanTime } from "../../domain/time.ts";
import type { DriftItem, UnregisteredVmState, VmDriftState } from "../../domain/drift.ts";
import { POOL_IDS, priorityName, type Vm } from "../../domain/types.ts";
import type { PoolSummary } from "../../ops/pools.ts";
import { hostError, type ScanView } from "../../ops/scan.ts";
import { mapped } from "../format.ts";
import type { StatusJson } from "./json-types.ts";
import type { JournalEntry } from "../../domain/journal.ts";

import { byVmId, poolJson, poolVmLine } from "./pools.ts";
import { poolStates, scanVmJson, summaryLine, unregisteredStates } from "./scan.ts";
import { vmStateText } from "./scan-json-text.ts";
import type { Paint } from "./style.ts";
import { haltedMark, vmLabel } from "./vm-fields.ts";

const RULE = "=".repeat(80);
const NAMES_SHOWN = 5;
const FLUSH_LINES = 256;

function names(vms: readonly Vm[]): string {
  if (vms.length === 0) return "";
  const shown = vms.slice(0, NAMES_SHOWN).map(vmLabel).join(", ");
  const more = vms.length > NAMES_SHOWN ? `, … (+${vms.length - NAMES_SHOWN} more)` : "";
  return ` (${shown}${more})`;
}

const SHORT: Record<string, string> = {
  "args-missing": "args missing",
  "args-different": "args differ",
  "multiple-devices": "several vgpu-stub devices",
  "vm-gone": "not on the host",
  "vmid-collision": "vm_id collision",
};

/** One line per drift item under its VM: what is wrong and the command that fixes it. */
function itemLines(drift: readonly DriftItem[], c: Paint): string[] {
  return drift.map((d) => `      ${c.warn("⚠")} ${d.detail} -> fix: ${d.fix}`);
}

/** The VM line's marks, then one line per drift problem (every counted problem has its line). */
function marks(view: ScanView, vm: Vm, c: Paint): { mark: string; lines: string[] } {
  const drift = view.host.kind === "read" ? view.host.drift.byUuid.get(vm.vmUuid)?.drift ?? [] : [];
  const kinds = [...new Set(drift.map((d: DriftItem) => SHORT[d.kind] ?? d.kind))];
  const out: string[] = [];
  if (kinds.length > 0) out.push(c.warn(`⚠ ${kinds.join(", ")}`));
  const stale = view.staleRuns.get(vm.vmUuid);
  if (stale !== undefined && view.host.kind === "read") {
    out.push(
      c.warn(`⚠ running with stale vGPU args since ${humanTime(stale.since)}: restart to apply`),
    );
  }
  return { mark: out.map((m) => ` | ${m}`).join(""), lines: itemLines(drift, c) };
}

/** `| vgpu-stub: pool B, priority high, VM ID 40` for an unregistered VM that carries one. */
function stubMark(s: UnregisteredVmState): string {
  const stubs = s.parsed.stubs;
  if (stubs.length === 0) return "";
  if (stubs.length > 1) return ` | carries ${stubs.length} vgpu-stub devices`;
  const cfg = stubs[0].config;
  if (cfg === null) return " | carries an invalid vgpu-stub";
  return ` | vgpu-stub: pool ${cfg.pool}, priority ${
    priorityName(cfg.priority)
  }, VM ID ${cfg.vmId}`;
}

/** What register-vm without options would do: seed 001's hint, true for each VM it names. */
function defaultsHint(unreg: readonly UnregisteredVmState[]): string {
  const carriers = unreg.filter((s) => s.parsed.stubs.length > 0).length;
  if (carriers === 0) {
    return "  (not registered - will default to Pool A if registered without --pool)";
  }
  if (carriers === unreg.length) {
    return "  (not registered - each keeps its own vgpu-stub's values if registered without options)";
  }
  return "  (not registered - without a vgpu-stub: will default to Pool A if registered without " +
    "--pool; with one: keeps its values)";
}

/**
 * The panel's lines, made as they are written (a batch of FLUSH_LINES at a time): one line per
 * VM and its problems is never all held at 10,000 VMs (issue 19, peak RSS).
 */
export function* statusLines(
  pools: readonly PoolSummary[],
  view: ScanView,
  c: Paint,
  interrupted: readonly JournalEntry[] = [],
): Generator<string> {
  const openOf = new Map(interrupted.map((e) => [e.vmUuid, e]));
  let lines = [RULE, c.bold("                    GPU Virtualization Control Panel"), RULE, ""];
  for (const p of pools) {
    const vms = byVmId(view.registered.filter((v) => v.pool === p.poolId));
    const heading = `Pool ${p.poolId}: ${printable(JSON.stringify(p.name))}`;
    lines.push(c.bold(heading), "-".repeat(45));
    lines.push(`Status: ${p.enabled ? "Enabled" : "Disabled"}`);
    if (p.description !== null) lines.push(`Description: ${printable(p.description)}`);
    lines.push(`VMs: ${vms.length}`);
    for (const [prio, label] of [[2, "High"], [1, "Medium"], [0, "Low"]] as const) {
      const these = vms.filter((v) => v.priority === prio);
      lines.push(`  ${label} Priority: ${these.length} VMs${names(these)}`);
    }
    lines.push("", "VM Details:");
    if (vms.length === 0) lines.push("  (none)");
    for (const vm of vms) {
      const m = marks(view, vm, c);
      const open = openOf.get(vm.vmUuid);
      const power = view.host.kind === "read"
        ? view.host.drift.byUuid.get(vm.vmUuid)?.host?.powerState
        : undefined;
      const halted = open === undefined || power === undefined ? "" : haltedMark(open, power, c);
      lines.push(poolVmLine(vm) + halted + m.mark, ...m.lines);
      if (lines.length >= FLUSH_LINES) {
        yield* lines;
        lines = [];
      }
    }
    lines.push("");
  }
  const unreg = unregisteredStates(view);
  if (unreg === null) {
    const why = view.host.kind === "offline"
      ? "--offline: the host was not read"
      : "the host could not be read";
    lines.push(`Unregistered VMs: unknown (${why})`);
  } else {
    lines.push(`Unregistered VMs: ${unreg.length}`);
    // One line per VM with its uuid: names may hold ", " and the uuid is what register-vm takes.
    for (const s of unreg) {
      lines.push(`  ${printable(s.host.nameLabel)} (UUID: ${s.host.uuid})${stubMark(s)}`);
      // a clone's collision line replaces "adopt it": adopt refuses a VM whose vm_id is taken
      const clone = s.drift.some((d) => d.kind === "vmid-collision");
      lines.push(
        ...itemLines(s.drift.filter((d) => !(clone && d.kind === "unregistered-device")), c),
      );
      if (lines.length >= FLUSH_LINES) {
        yield* lines;
        lines = [];
      }
    }
    if (unreg.length > 0) lines.push(defaultsHint(unreg));
  }
  if (view.host.kind === "read") lines.push("", summaryLine(view, view.host, c));
  const enabled = pools.filter((p) => p.enabled).length;
  lines.push(
    "",
    c.bold("System Summary:"),
    "--------------",
    `Total Pools: ${pools.length} (${
      enabled === pools.length ? "both enabled" : `${enabled} enabled`
    })`,
    `Total VMs Registered: ${view.registered.length}`,
    `Total VMs Unregistered: ${unreg === null ? "unknown" : unreg.length}`,
    `Total VMs in System: ${unreg === null ? "unknown" : view.registered.length + unreg.length}`,
  );
  yield* lines;
}

export function statusJson(pools: readonly PoolSummary[], view: ScanView): StatusJson {
  const unreg = unregisteredStates(view);
  // each VM state written straight to its text, as scan-vms does (issue 19: no objects built)
  const text = (s: VmDriftState, indent: string) => vmStateText(view, s, indent);
  const read = view.host.kind === "read" ? view.host : null;
  return {
    host: { available: read !== null, error: hostError(view) },
    pools: POOL_IDS.flatMap((id) =>
      pools.filter((p) => p.poolId === id).map((p) => ({
        ...poolJson(p),
        vms: mapped(poolStates(view, id), (s) => scanVmJson(view, s), text),
      }))
    ),
    unregistered: unreg === null ? null : mapped(unreg, (s) => scanVmJson(view, s), text),
    summary: {
      pools: pools.length,
      pools_enabled: pools.filter((p) => p.enabled).length,
      vms_registered: view.registered.length,
      vms_unregistered: unreg === null ? null : unreg.length,
      vms_total: unreg === null ? null : view.registered.length + unreg.length,
      drift_items: read === null ? null : read.drift.items.length,
      stale_runs: read === null ? null : view.staleRuns.size,
    },
  };
}

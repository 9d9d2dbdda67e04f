// scan-vms: seed 001's grouped line layout (Pool A, Pool B, then unregistered), each VM with
// its host state, current vgpu-stub args and every drift item with the command that fixes it.
import { humanTime } from "../../domain/time.ts";
import type { VgpuStub } from "../../domain/device-args.ts";
import type { DriftItem, VmDriftState } from "../../domain/drift.ts";
import { POOL_IDS, priorityName } from "../../domain/types.ts";
import type { Pool } from "../../domain/types.ts";
import type { QemuReport, QemuView } from "../../ops/qemu-cmdline.ts";
import { hostName, type ScanView } from "../../ops/scan.ts";
import type { Paint } from "./style.ts";
import { priorityLong, vmJson, vmLabel } from "./vm-fields.ts";

function hostState(view: ScanView, s: VmDriftState): string {
  const h = s.host;
  if (h === null) return "not on this host's xapi";
  if (h.residentOn === null || view.host === null) return h.powerState;
  const local = view.host.localHost;
  if (local !== null && h.residentOn !== local) {
    return `${h.powerState} on another host (${hostName(view.host, h.residentOn)})`;
  }
  return h.powerState;
}

function stubText(s: VmDriftState): string {
  if (s.host === null) return "";
  if (s.parsed.stubs.length === 0) return "(no vgpu-stub device)";
  return s.parsed.stubs.map((st) => st.raw).join("  ");
}

function driftLine(d: DriftItem, c: Paint): string {
  return `    ${c.warn("⚠")} ${d.detail} -> fix: ${d.fix}`;
}

function staleLine(view: ScanView, uuid: string, c: Paint): string | null {
  const r = view.staleRuns.get(uuid);
  if (r === undefined) return null;
  return `    ${c.warn("⚠")} running with stale vGPU args since ${
    humanTime(r.since)
  }: restart to apply`;
}

/** scan-vms --deep: what the VM's QEMU process runs with, against xapi (and the database). */
export function qemuLine(q: QemuView, c: Paint): string {
  if (q.status === "not-checked") return `    QEMU: not checked (${q.detail})`;
  if (q.status === "not-found") return `    QEMU: ${c.warn("⚠")} ${q.detail}`;
  const args = q.stubs.length === 0
    ? "(no vgpu-stub device)"
    : q.stubs.map((st) => st.raw).join("  ");
  const verdict = q.fix === null
    ? `${c.ok("✓")} ${q.detail}`
    : `${c.warn("⚠")} ${q.detail}: ${q.fix}`;
  return `    QEMU: ${args} ${verdict}`;
}

function registeredStatus(view: ScanView, s: VmDriftState, c: Paint): string {
  if (view.host === null) return c.warn("? Host not read");
  if (s.host === null) return c.bad("✗ Not on host");
  return s.drift.length === 0 ? c.ok("✓ Configured") : c.warn("⚠ Drift");
}

/** The states of registered VMs of one pool, by vm_id. */
/** Every VM state; database-only states when the host could not be read. */
export function vmStates(view: ScanView): VmDriftState[] {
  if (view.drift !== null) return view.drift.vms;
  return view.registered.map((vm) => ({
    vmUuid: vm.vmUuid,
    registered: vm,
    host: null,
    parsed: { stubs: [] },
    applied: null,
    drift: [],
  }));
}

function poolStates(view: ScanView, pool: string): VmDriftState[] {
  return vmStates(view)
    .filter((s) => s.registered !== null && s.registered.pool === pool)
    .sort((a, b) => a.registered!.vmId - b.registered!.vmId);
}

function unregisteredStates(view: ScanView): VmDriftState[] {
  return vmStates(view).filter((s) => s.registered === null);
}

export function scanLines(
  view: ScanView,
  pools: readonly Pool[],
  c: Paint,
  qemu: QemuReport | null = null,
): string[] {
  const qemuOf = (uuid: string) => {
    const q = qemu?.vms.get(uuid);
    return q === undefined ? [] : [qemuLine(q, c)];
  };
  const lines: string[] = [];
  for (const poolId of POOL_IDS) {
    const states = poolStates(view, poolId);
    const pool = pools.find((p) => p.poolId === poolId);
    const title = pool && pool.name !== `Pool ${poolId}` ? ` (${pool.name})` : "";
    lines.push(c.bold(`=== Pool ${poolId}${title}: ${states.length} VMs ===`));
    for (const s of states) {
      const vm = s.registered!;
      lines.push(
        `UUID: ${vm.vmUuid} | Name: ${vmLabel(vm)} | Pool: ${vm.pool} | Priority: ${
          priorityLong(vm.priority)
        } | VM ID: ${vm.vmId} | ${registeredStatus(view, s, c)}`,
      );
      if (s.host !== null) lines.push(`    Power: ${hostState(view, s)} | Args: ${stubText(s)}`);
      lines.push(...qemuOf(vm.vmUuid));
      for (const d of s.drift) lines.push(driftLine(d, c));
      const stale = staleLine(view, vm.vmUuid, c);
      if (stale !== null) lines.push(stale);
    }
    lines.push("");
  }
  if (view.host === null) {
    lines.push(c.bold("=== Unregistered VMs: unknown (the host could not be read) ==="));
    return lines;
  }
  const unreg = unregisteredStates(view);
  lines.push(c.bold(`=== Unregistered VMs: ${unreg.length} ===`));
  for (const s of unreg) {
    const h = s.host!;
    // The drift item's own fix: adopt only a VM that adopt accepts (a clone must re-register).
    const fix = s.drift.find((d) => d.kind === "vmid-collision") ??
      s.drift.find((d) => d.kind === "unregistered-device");
    const action = `Run '${fix?.fix ?? "vgpu-admin register-vm"}'`;
    lines.push(
      `UUID: ${h.uuid} | Name: ${h.nameLabel} | Status: ${
        c.warn("⚠ Not registered")
      } | Action: ${action}`,
    );
    if (s.parsed.stubs.length > 0 || s.drift.length > 0) {
      lines.push(`    Power: ${hostState(view, s)} | Args: ${stubText(s)}`);
    }
    lines.push(...qemuOf(h.uuid));
    for (const d of s.drift) {
      if (d.kind !== "unregistered-device") lines.push(driftLine(d, c));
    }
  }
  // --deep: a QEMU line that says "restart" counts like a stale-start mark in the summary
  const qemuRestart = [...(qemu?.vms.values() ?? [])]
    .filter((q) => q.fix !== null && q.fix.includes("restart the VM"))
    .map((q) => q.vmUuid);
  lines.push("", summaryLine(view, c, qemuRestart));
  return lines;
}

export function summaryLine(view: ScanView, c: Paint, alsoStale: readonly string[] = []): string {
  const items = view.drift!.items.filter((d) => d.kind !== "unregistered-device");
  const hand = view.drift!.items.filter((d) => d.kind === "unregistered-device").length;
  const parts: string[] = [];
  // a VM line above that says "restart to apply" rules out a ✓ here (issue 11 point 7)
  const stale = new Set([...view.staleRuns.keys(), ...alsoStale]).size;
  const staleText = `${stale} VM${stale === 1 ? "" : "s"} running with stale vGPU args`;
  if (items.length === 0 && stale === 0) parts.push(c.ok("✓ Database and VM args agree."));
  else if (items.length === 0) {
    parts.push(
      c.warn(`⚠ ${staleText}`) + " (restart each to apply); the database and VM args agree.",
    );
  } else {
    const vms = new Set(items.map((d) => d.vmUuid)).size;
    parts.push(
      c.warn(
        `⚠ Drift: ${items.length} problem${items.length === 1 ? "" : "s"} on ${vms} VM${
          vms === 1 ? "" : "s"
        }`,
      ) + " (each line above gives its fix; 'vgpu-admin sync' repairs registered VMs).",
    );
    if (stale > 0) parts.push(`${staleText} (restart each to apply).`);
  }
  if (hand > 0) {
    parts.push(
      `${hand} unregistered VM${hand === 1 ? "" : "s"} carr${
        hand === 1 ? "ies" : "y"
      } a vgpu-stub device ('vgpu-admin adopt' registers them).`,
    );
  }
  return parts.join(" ");
}

function driftJson(d: DriftItem): Record<string, unknown> {
  return {
    kind: d.kind,
    detail: d.detail,
    fix: d.fix,
    other_vm_uuid: d.otherVmUuid ?? null,
    vm_id: d.vmId ?? null,
  };
}

/** One vgpu-stub device (docs/json.md "Device object"). */
export function deviceJson(st: VgpuStub): Record<string, unknown> {
  return {
    raw: st.raw,
    pool_id: st.config?.pool ?? null,
    priority: st.config ? priorityName(st.config.priority) : null,
    vm_id: st.config?.vmId ?? st.vmId,
    problems: st.problems,
  };
}

/** scan-vms --deep: one VM's QEMU check; null when the VM was not compared (halted, plain). */
export function qemuJson(q: QemuView | undefined): Record<string, unknown> | null {
  if (q === undefined) return null;
  return {
    status: q.status,
    dom_id: q.domid,
    pid: q.pid,
    devices: q.stubs.map(deviceJson),
    matches_xapi: q.matchesXapi,
    matches_database: q.matchesDatabase,
    detail: q.detail,
    fix: q.fix,
  };
}

/** One VM in scan-vms JSON: database part (or null) and host part (or null). */
export function scanVmJson(view: ScanView, s: VmDriftState): Record<string, unknown> {
  const h = s.host;
  const local = view.host?.localHost ?? null;
  const status = s.registered === null
    ? "not-registered"
    : view.host === null
    ? "unknown"
    : h === null
    ? "not-on-host"
    : s.drift.length === 0
    ? "configured"
    : "drift";
  return {
    vm_uuid: s.vmUuid,
    status,
    registered: s.registered === null ? null : vmJson(s.registered),
    host: h === null ? null : {
      name_label: h.nameLabel,
      power_state: h.powerState,
      resident_on: h.residentOn,
      on_this_host: h.residentOn === null || local === null ? null : h.residentOn === local,
      args: h.deviceModelArgs,
      devices: s.parsed.stubs.map(deviceJson),
    },
    drift: s.drift.map(driftJson),
    stale_since: view.staleRuns.get(s.vmUuid)?.since ?? null,
  };
}

export function scanJson(
  view: ScanView,
  qemu: QemuReport | null = null,
): Record<string, unknown> {
  // --deep adds `qemu` to each VM state and a top-level `qemu`; without it the shape is unchanged.
  const vmOut = (s: VmDriftState) =>
    qemu === null
      ? scanVmJson(view, s)
      : { ...scanVmJson(view, s), qemu: qemuJson(qemu.vms.get(s.vmUuid)) };
  const deep = qemu === null ? {} : { qemu: { proc_root: qemu.procRoot, error: qemu.error } };
  return {
    host: {
      available: view.host !== null,
      error: view.hostError,
      local_host: view.host?.localHost ?? null,
      xe_calls: view.xeCalls,
    },
    pools: POOL_IDS.map((p) => ({
      pool_id: p,
      vms: poolStates(view, p).map(vmOut),
    })),
    unregistered: view.drift === null ? null : unregisteredStates(view).map(vmOut),
    drift: view.drift === null ? [] : view.drift.items.map((d) => ({
      vm_uuid: d.vmUuid,
      ...driftJson(d),
    })),
    ...deep,
  };
}

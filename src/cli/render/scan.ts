// scan-vms: seed 001's grouped line layout (Pool A, Pool B, then unregistered), each VM with
// its host state, current vgpu-stub args and every drift item with the command that fixes it.
import { printable } from "../../domain/printable.ts";
import { humanTime } from "../../domain/time.ts";
import type { VgpuStub } from "../../domain/device-args.ts";
import {
  type DriftItem,
  type RegisteredVmState,
  SYNC_FIX,
  type UnregisteredVmState,
  type VmDriftState,
} from "../../domain/drift.ts";
import { POOL_IDS, priorityName } from "../../domain/types.ts";
import type { Pool, Vm } from "../../domain/types.ts";
import type { QemuReport, QemuView } from "../../ops/qemu-cmdline.ts";
import { hostError, hostName, type HostView, type ScanView } from "../../ops/scan.ts";
import type {
  DeviceJson,
  DriftJson,
  HostVmJson,
  QemuJson,
  ScanJson,
  ShowVmJson,
  VmStateJson,
  VmStatusJson,
} from "./json-types.ts";
import { mapped } from "../format.ts";
import { vmStateText } from "./scan-json-text.ts";
import type { Paint } from "./style.ts";
import { priorityLong, vmJson, vmLabel } from "./vm-fields.ts";

function hostState(view: ScanView, s: VmDriftState): string {
  const h = s.host;
  if (h === null) return "not on this host's xapi";
  if (h.residentOn === null || view.host.kind !== "read") return h.powerState;
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
  if (view.host.kind !== "read") return c.warn("? Host not read");
  if (s.host === null) return c.bad("✗ Not on host");
  return s.drift.length === 0 ? c.ok("✓ Configured") : c.warn("⚠ Drift");
}

/** Every VM state; database-only states when the host was not read. */
export function vmStates(view: ScanView): VmDriftState[] {
  if (view.host.kind === "read") return view.host.drift.vms;
  return view.registered.map((vm) => ({
    vmUuid: vm.vmUuid,
    registered: vm,
    host: null,
    parsed: { stubs: [] },
    applied: null,
    drift: [],
  }));
}

/** The states of registered VMs of one pool, by vm_id. */
export function poolStates(view: ScanView, pool: string): RegisteredVmState[] {
  return vmStates(view)
    .filter((s): s is RegisteredVmState => s.registered !== null && s.registered.pool === pool)
    .sort((a, b) => a.registered.vmId - b.registered.vmId);
}

/** The host's VMs that are not registered, in host order; null when the host was not read. */
export function unregisteredStates(view: ScanView): UnregisteredVmState[] | null {
  return view.host.kind === "read" ? unregisteredOf(view.host) : null;
}

function unregisteredOf(host: HostView): UnregisteredVmState[] {
  return host.drift.vms.filter((s): s is UnregisteredVmState => s.registered === null);
}

/** A VM's whole QEMU args on one line (issue 11: REQUIREMENT 7), `(none)` when it has none. */
function wholeArgs(args: string | null): string {
  if (args === null || args.trim() === "") return "(none)";
  return printable(args);
}

export function scanLines(
  view: ScanView,
  pools: readonly Pool[],
  c: Paint,
  qemu: QemuReport | null = null,
): string[] {
  const lines: string[] = [];
  eachScanLine(view, pools, c, qemu, (l) => void lines.push(l));
  return lines;
}

/**
 * scanLines one line at a time, as each is made: 10,000 VMs' lines are never held together
 * (issue 19: peak RSS and garbage collection of scan-vms at 10,000 VMs).
 */
export function eachScanLine(
  view: ScanView,
  pools: readonly Pool[],
  c: Paint,
  qemu: QemuReport | null,
  emit: (line: string) => void,
): void {
  const qemuOf = (uuid: string) => {
    const q = qemu?.vms.get(uuid);
    if (q !== undefined) emit(qemuLine(q, c));
  };
  for (const poolId of POOL_IDS) {
    const states = poolStates(view, poolId);
    const pool = pools.find((p) => p.poolId === poolId);
    // the seed's header, plus the pool's own name and "disabled" when they say something
    const notes = [
      ...(pool && pool.name !== `Pool ${poolId}` ? [printable(pool.name)] : []),
      ...(pool && !pool.enabled ? ["disabled"] : []),
    ];
    const title = notes.length > 0 ? ` (${notes.join(", ")})` : "";
    emit(c.bold(`=== Pool ${poolId}${title}: ${states.length} VMs ===`));
    for (const s of states) {
      const vm = s.registered;
      emit(
        `UUID: ${vm.vmUuid} | Name: ${vmLabel(vm)} | Pool: ${vm.pool} | Priority: ${
          priorityLong(vm.priority)
        } | VM ID: ${vm.vmId} | ${registeredStatus(view, s, c)}`,
      );
      if (s.host !== null) {
        emit(`    Power: ${hostState(view, s)} | Args: ${stubText(s)}`);
        emit(`    Device-model-args: ${wholeArgs(s.host.deviceModelArgs)}`);
      }
      qemuOf(vm.vmUuid);
      for (const d of s.drift) emit(driftLine(d, c));
      const stale = staleLine(view, vm.vmUuid, c);
      if (stale !== null) emit(stale);
    }
    emit("");
  }
  const host = view.host;
  if (host.kind !== "read") {
    emit(c.bold("=== Unregistered VMs: unknown (the host could not be read) ==="));
    return;
  }
  const unreg = unregisteredOf(host);
  emit(c.bold(`=== Unregistered VMs: ${unreg.length} ===`));
  for (const s of unreg) {
    const h = s.host;
    // The drift item's own fix: adopt only a VM that adopt accepts (a clone must re-register).
    const fix = s.drift.find((d) => d.kind === "vmid-collision") ??
      s.drift.find((d) => d.kind === "unregistered-device");
    const action = `Run '${fix?.fix ?? "vgpu-admin register-vm"}'`;
    emit(
      `UUID: ${h.uuid} | Name: ${printable(h.nameLabel)} | Status: ${
        c.warn("⚠ Not registered")
      } | Action: ${action}`,
    );
    if (s.parsed.stubs.length > 0 || s.drift.length > 0) {
      emit(`    Power: ${hostState(view, s)} | Args: ${stubText(s)}`);
    }
    emit(`    Device-model-args: ${wholeArgs(h.deviceModelArgs)}`);
    qemuOf(h.uuid);
    for (const d of s.drift) {
      if (d.kind !== "unregistered-device") emit(driftLine(d, c));
    }
  }
  // --deep: a QEMU line that says "restart" counts like a stale-start mark in the summary
  const qemuRestart = [...(qemu?.vms.values() ?? [])]
    .filter((q) => q.fix !== null && q.fix.includes("restart the VM"))
    .map((q) => q.vmUuid);
  emit("");
  emit(summaryLine(view, host, c, qemuRestart));
}

/** The verdict under a scan of the host: drift found, stale starts, or agreement. */
export function summaryLine(
  view: ScanView,
  host: HostView,
  c: Paint,
  alsoStale: readonly string[] = [],
): string {
  const items = host.drift.items.filter((d) => d.kind !== "unregistered-device");
  const hand = host.drift.items.filter((d) => d.kind === "unregistered-device");
  // adopt refuses a clone (its vm_id is taken) and a VM with several devices
  const refused = new Set(
    host.drift.items.filter((d) => d.kind !== "unregistered-device").map((d) => d.vmUuid),
  );
  const adoptable = hand.filter((d) => !refused.has(d.vmUuid)).length;
  const bySync = items.filter((d) => d.fix === SYNC_FIX).length;
  const syncText = bySync === 0
    ? ""
    : bySync === items.length
    ? "; 'vgpu-admin sync' repairs them"
    : `; 'vgpu-admin sync' repairs ${bySync} of them`;
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
      ) + ` (each line above gives its fix${syncText}).`,
    );
    if (stale > 0) parts.push(`${staleText} (restart each to apply).`);
  }
  if (hand.length > 0) {
    const n = hand.length;
    const how = adoptable === n
      ? `'vgpu-admin adopt' registers ${n === 1 ? "it" : "them"}`
      : adoptable === 0
      ? "each line above gives its fix"
      : `'vgpu-admin adopt' registers ${adoptable} of them; each line above gives the others' fix`;
    parts.push(
      `${n} unregistered VM${n === 1 ? "" : "s"} carr${
        n === 1 ? "ies" : "y"
      } a vgpu-stub device (${how}).`,
    );
  }
  return parts.join(" ");
}

function driftJson(d: DriftItem): DriftJson {
  return {
    kind: d.kind,
    detail: d.detail,
    fix: d.fix,
    other_vm_uuid: d.otherVmUuid ?? null,
    vm_id: d.vmId ?? null,
  };
}

/** One vgpu-stub device (docs/json.md "Device object"). */
export function deviceJson(st: VgpuStub): DeviceJson {
  return {
    raw: st.raw,
    pool_id: st.config?.pool ?? null,
    priority: st.config ? priorityName(st.config.priority) : null,
    vm_id: st.config?.vmId ?? st.vmId,
    problems: st.problems,
  };
}

/** scan-vms --deep: one VM's QEMU check; null when the VM was not compared (halted, plain). */
export function qemuJson(q: QemuView | undefined): QemuJson | null {
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

function vmStatus(view: ScanView, s: VmDriftState): VmStatusJson {
  if (s.registered === null) return "not-registered";
  if (view.host.kind !== "read") return "unknown";
  if (s.host === null) return "not-on-host";
  return s.drift.length === 0 ? "configured" : "drift";
}

/** What xe reports for one VM (docs/json.md "VM state", `host`). */
function hostVmJson(view: ScanView, s: VmDriftState): HostVmJson | null {
  const h = s.host;
  if (h === null) return null;
  const local = view.host.kind === "read" ? view.host.localHost : null;
  return {
    name_label: h.nameLabel,
    power_state: h.powerState,
    resident_on: h.residentOn,
    on_this_host: h.residentOn === null || local === null ? null : h.residentOn === local,
    args: h.deviceModelArgs,
    devices: s.parsed.stubs.map(deviceJson),
  };
}

/** One VM state (docs/json.md "VM state"): scan-vms, status and show-vm share it. */
export function scanVmJson(view: ScanView, s: VmDriftState): VmStateJson {
  return {
    vm_uuid: s.vmUuid,
    status: vmStatus(view, s),
    registered: s.registered === null ? null : vmJson(s.registered),
    host: hostVmJson(view, s),
    drift: s.drift.map(driftJson),
    stale_since: view.staleRuns.get(s.vmUuid)?.since ?? null,
  };
}

/** show-vm: the VM's state as scan-vms shows it (database only when the host was not read). */
export function showVmJson(view: ScanView, vm: Vm, poolName: string): ShowVmJson {
  const state = vmStates(view).find((s) => s.vmUuid === vm.vmUuid) ??
    {
      vmUuid: vm.vmUuid,
      registered: vm,
      host: null,
      parsed: { stubs: [] },
      applied: null,
      drift: [],
    };
  return { vm: scanVmJson(view, state), pool_name: poolName };
}

export function scanJson(view: ScanView, qemu: QemuReport | null = null): ScanJson {
  // --deep adds `qemu` to each VM state and a top-level `qemu`; without it the shape is unchanged.
  const vmOut = (s: VmDriftState) =>
    qemu === null
      ? scanVmJson(view, s)
      : { ...scanVmJson(view, s), qemu: qemuJson(qemu.vms.get(s.vmUuid)) };
  const deep = qemu === null ? {} : { qemu: { proc_root: qemu.procRoot, error: qemu.error } };
  // written straight to text (no state objects) unless --deep adds to each state
  const text = qemu === null
    ? (s: VmDriftState, indent: string) => vmStateText(view, s, indent)
    : undefined;
  const read = view.host.kind === "read" ? view.host : null;
  return {
    host: {
      available: read !== null,
      error: hostError(view),
      local_host: read?.localHost ?? null,
      xe_calls: view.xeCalls,
    },
    // each VM state is built as it is written (format.ts mapped), never all of them at once
    pools: POOL_IDS.map((p) => ({
      pool_id: p,
      vms: mapped(poolStates(view, p), vmOut, text),
    })),
    unregistered: mappedOrNull(unregisteredStates(view), vmOut, text),
    drift: read === null ? [] : read.drift.items.map((d) => ({
      vm_uuid: d.vmUuid,
      ...driftJson(d),
    })),
    ...deep,
  };
}

function mappedOrNull<S, T>(
  sources: readonly S[] | null,
  f: (s: S) => T,
  text?: (s: S, indent: string) => string,
): T[] | null {
  return sources === null ? null : mapped(sources, f, text);
}

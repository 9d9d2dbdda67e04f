// doctor: the host's checks (drift, vm_id collisions, strict mode, stale runs, QEMU).
import { humanTime } from "../../domain/time.ts";
import { printable } from "../../domain/printable.ts";
import { countsAsDrift, type DriftItem, SYNC_FIX } from "../../domain/drift.ts";
import type { Settings } from "../../domain/settings.ts";
import { compareQemu, type QemuView } from "../qemu-cmdline.ts";
import type { HostView, ScanView } from "../scan.ts";
import { type CheckItem, Checks, plural } from "./checks.ts";

export function vmName(view: ScanView, uuid: string): string {
  const s = view.host.kind === "read" ? view.host.drift.byUuid.get(uuid) : undefined;
  const name = s?.registered?.vmName ?? s?.host?.nameLabel ?? null;
  return name === null || name === "" ? `VM ${uuid}` : `VM ${uuid} (${printable(name)})`;
}

export function itemOf(view: ScanView, d: DriftItem): CheckItem {
  return { vmUuid: d.vmUuid, message: `${vmName(view, d.vmUuid)}: ${d.detail}`, fix: d.fix };
}

/**
 * The fix of a group of drift items: `vgpu-admin sync` only when sync fixes every one of them
 * (it never touches an unregistered VM or one xe no longer lists).
 */
export function groupFix(items: readonly DriftItem[]): string {
  const bySync = items.filter((d) => d.fix === SYNC_FIX).length;
  if (bySync === items.length) return `${SYNC_FIX} (each line below gives its own fix)`;
  if (bySync === 0) return "each line below gives its own fix (vgpu-admin sync fixes none of them)";
  return `each line below gives its own fix ('${SYNC_FIX}' fixes ${bySync} of them)`;
}

/** drift and vm-id-collisions, as `sync --check` counts them; returns the number of items. */
export function checkDrift(checks: Checks, view: ScanView, host: HostView): number {
  const all = host.drift.items.filter(countsAsDrift);
  const drift = all.filter((d) => d.kind !== "vmid-collision");
  const collisions = all.filter((d) => d.kind === "vmid-collision");
  if (all.length === 0) {
    checks.add(
      "drift",
      "ok",
      `database and VM args agree (${plural(view.registered.length, "registered VM")})`,
    );
  } else if (drift.length === 0) {
    // never "✓ agree" beside a drift problem: sync --check counts the collisions as drift
    checks.add(
      "drift",
      "failed",
      `${plural(collisions.length, "problem")}: the vm_id collision${
        collisions.length === 1 ? "" : "s"
      } below`,
      groupFix(collisions),
    );
  } else {
    const vms = new Set(drift.map((d) => d.vmUuid)).size;
    const more = collisions.length === 0
      ? ""
      : `, and ${plural(collisions.length, "vm_id collision")} below`;
    checks.add(
      "drift",
      "failed",
      `${plural(drift.length, "problem")} on ${plural(vms, "VM")}${more}`,
      groupFix(drift),
      drift.map((d) => itemOf(view, d)),
    );
  }
  if (collisions.length === 0) {
    checks.add("vm-id-collisions", "ok", "no vm_id is carried by two VMs");
  } else {
    const ids = new Set(collisions.map((d) => d.vmId)).size;
    checks.add(
      "vm-id-collisions",
      "failed",
      `${plural(ids, "vm_id")} carried by more than one VM (clones copy platform args)`,
      "give each VM its own vm_id (each line below gives its fix)",
      collisions.map((d) => itemOf(view, d)),
    );
  }
  return all.length;
}

export function checkStrict(checks: Checks, settings: Settings, drift: number): void {
  if (settings.hookStrict) {
    checks.add(
      "strict-mode",
      "ok",
      "hook-strict is on: a start with stale vGPU args or a colliding vm_id is refused",
    );
  } else if (drift > 0) {
    checks.add(
      "strict-mode",
      "warning",
      `hook-strict is off while ${
        drift === 1 ? "1 drift problem exists" : `${drift} drift problems exist`
      }: such a VM starts with stale vGPU args`,
      "fix each drift problem above; to refuse such starts from now on: vgpu-admin settings hook-strict on",
    );
  } else {
    checks.add("strict-mode", "ok", "hook-strict is off (the default); nothing drifts now");
  }
}

export function checkStaleRuns(checks: Checks, view: ScanView): void {
  const stale = [...view.staleRuns.values()];
  if (stale.length === 0) {
    checks.add("stale-runs", "ok", "no running VM has stale vGPU args");
    return;
  }
  checks.add(
    "stale-runs",
    "warning",
    `${plural(stale.length, "VM")} run${stale.length === 1 ? "s" : ""} with stale vGPU args`,
    "restart each VM listed below to apply",
    stale.map((r) => ({
      vmUuid: r.vmUuid,
      message: `${vmName(view, r.vmUuid)}: running with stale vGPU args since ${
        humanTime(r.since)
      } (${r.reason})`,
      fix: "restart the VM to apply",
    })),
  );
}

export function checkQemu(checks: Checks, view: ScanView, procRoot: string): void {
  const report = compareQemu(view, procRoot);
  if (report.error !== null) {
    checks.add(
      "qemu",
      "warning",
      `the QEMU command lines could not be compared: ${report.error}`,
      report.errorFix ?? "run doctor on the XCP-ng dom0",
    );
    return;
  }
  const views = [...report.vms.values()];
  const compared = views.filter((q) => q.status === "matches" || q.status === "differs");
  const problems = views.filter((q) => q.status === "differs" || q.status === "not-found");
  if (problems.length === 0) {
    checks.add(
      "qemu",
      "ok",
      compared.length === 0
        ? "no running VM on this host carries a vgpu-stub to compare"
        : `${plural(compared.length, "running VM")}: QEMU runs with the vgpu-stub xapi holds`,
    );
    return;
  }
  checks.add(
    "qemu",
    "warning",
    `${plural(problems.length, "running VM")}: QEMU does not run with what xapi holds`,
    "restart each VM listed below (after 'vgpu-admin sync' where it says so)",
    problems.map((q) => new QemuItem(view, q)),
  );
}

/**
 * A VM whose QEMU does not run with what xapi holds. Its line is made when it is written, and is
 * garbage once written: a host where every running VM lacks its process (thousands of lines)
 * never holds them all at once (issue 19, doctor's peak RSS at 10,000 VMs).
 */
class QemuItem implements CheckItem {
  constructor(readonly view: ScanView, readonly q: QemuView) {}
  get vmUuid(): string {
    return this.q.vmUuid;
  }
  get fix(): string | null {
    return this.q.fix;
  }
  get message(): string {
    const { view, q } = this;
    if (q.status === "not-found") return `${vmName(view, q.vmUuid)}: ${q.detail}`;
    const runs = q.stubs.length === 0
      ? "no vgpu-stub device"
      : q.stubs.map((s) => s.raw).join("  ");
    return `${vmName(view, q.vmUuid)}: QEMU (pid ${q.pid}) runs ${runs}; ${q.detail}`;
  }
  toJSON(): CheckItem {
    return { vmUuid: this.vmUuid, message: this.message, fix: this.fix };
  }
}

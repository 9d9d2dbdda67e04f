// The three-way check: the vgpu-stub each running VM's QEMU was really started with, read from
// /proc/<pid>/cmdline of its device-model process, against xapi's args and the database.
// On XCP-ng the device model is qemu-system-i386 (argv[0] often `qemu-dm-<domid>`, set by the
// qemu wrapper), started with `-xen-domid <domid>`; its cmdline is NUL-separated.
import { parseDeviceArgs, sameConfig, type VgpuStub } from "../domain/device-args.ts";
import type { VmDriftState } from "../domain/drift.ts";
import { VgpuError } from "../domain/errors.ts";
import type { HostVm } from "../domain/types.ts";
import type { ScanView } from "./scan.ts";

export const DEFAULT_PROC_ROOT = "/proc";

/** A device-model process: its pid, the domain it serves, its argv. */
export interface QemuProcess {
  pid: number;
  domid: number;
  argv: string[];
}

/** The domid after `-xen-domid` (or `--xen-domid`) in an argv, or null. */
export function xenDomid(argv: readonly string[]): number | null {
  for (let i = 1; i < argv.length - 1; i++) {
    if (argv[i] !== "-xen-domid" && argv[i] !== "--xen-domid") continue;
    const v = argv[i + 1];
    return /^[0-9]{1,10}$/.test(v) ? Number(v) : null;
  }
  return null;
}

/** Splits a /proc/<pid>/cmdline (NUL-separated, usually NUL-terminated) into argv. */
export function splitCmdline(bytes: Uint8Array): string[] {
  const text = new TextDecoder().decode(bytes);
  const parts = text.split("\0");
  if (parts.at(-1) === "") parts.pop();
  return parts;
}

function looksLikeQemu(argv: readonly string[]): boolean {
  const base = (argv[0] ?? "").split("/").pop() ?? "";
  return base.startsWith("qemu");
}

/**
 * Every process under `procRoot` whose cmdline carries `-xen-domid N`, by domid. When several
 * serve one domain, a `qemu*` argv[0] wins, then the lowest pid. Processes that vanish while
 * being read are skipped; an unreadable `procRoot` throws VgpuError.
 */
export function readDeviceModels(procRoot: string): Map<number, QemuProcess> {
  const found = new Map<number, QemuProcess>();
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(procRoot)];
  } catch (e) {
    throw procError(procRoot, e);
  }
  const pids = entries.filter((e) => /^[0-9]+$/.test(e.name)).map((e) => Number(e.name))
    .sort((a, b) => a - b);
  for (const pid of pids) {
    let argv: string[];
    try {
      argv = splitCmdline(Deno.readFileSync(`${procRoot}/${pid}/cmdline`));
    } catch (e) {
      // Deno refuses all of /proc without --allow-all: say so rather than report every VM missing
      if (e instanceof Deno.errors.NotCapable) throw procError(procRoot, e);
      continue; // gone meanwhile, or not ours to read
    }
    const domid = xenDomid(argv);
    if (domid === null) continue;
    const prev = found.get(domid);
    if (prev === undefined || (!looksLikeQemu(prev.argv) && looksLikeQemu(argv))) {
      found.set(domid, { pid, domid, argv });
    }
  }
  return found;
}

/** /proc (or VGPU_PROC_ROOT) could not be read; `fix` is the advice that is true for the cause. */
export class ProcReadError extends VgpuError {
  constructor(message: string, readonly fix: string) {
    super(message);
  }
}

function procError(procRoot: string, e: unknown): ProcReadError {
  const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
  const msg = `cannot read ${procRoot}: ${why}`;
  if (e instanceof Deno.errors.NotCapable) {
    // Deno 1.43+ treats /proc as privileged: only --allow-all reads it (the shipped flags)
    return new ProcReadError(
      msg,
      "run vgpu-admin with its shipped permissions (--allow-all: Deno reads /proc with nothing less)",
    );
  }
  if (procRoot !== DEFAULT_PROC_ROOT) {
    return new ProcReadError(msg, `unset VGPU_PROC_ROOT, or point it at a readable /proc tree`);
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new ProcReadError(msg, "run as root (/proc is mounted with hidepid)");
  }
  return new ProcReadError(msg, "run on the XCP-ng dom0, where /proc lists the QEMU processes");
}

export type QemuStatus = "matches" | "differs" | "not-found" | "not-checked";

/** One VM's QEMU compared with xapi and the database. */
export interface QemuView {
  vmUuid: string;
  status: QemuStatus;
  domid: number | null;
  pid: number | null;
  /** The vgpu-stub devices on the process's command line ([] when none or not found). */
  stubs: VgpuStub[];
  /** null when not compared (not found, not checked). */
  matchesXapi: boolean | null;
  /** null when not compared, or the VM is not registered. */
  matchesDatabase: boolean | null;
  /** One line for humans: what was found. */
  detail: string;
  /** What to do, or null when nothing needs doing. */
  fix: string | null;
}

export interface QemuReport {
  /** VMs that run (or are paused) and are registered or carry a vgpu-stub, in scan order. */
  vms: Map<string, QemuView>;
  /** Set when the check could not run at all (/proc unreadable). */
  error: string | null;
  /** What to do about `error`, true for its cause. */
  errorFix: string | null;
  procRoot: string;
}

/** Same devices in the same order, compared by parsed properties, never by strings. */
export function sameStubs(a: readonly VgpuStub[], b: readonly VgpuStub[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((s, i) => {
    const t = b[i];
    if (s.config !== null && t.config !== null) return sameConfig(s.config, t.config);
    if (s.config !== null || t.config !== null) return false;
    const norm = (p: Record<string, string>) => JSON.stringify(Object.entries(p).sort());
    return norm(s.props) === norm(t.props);
  });
}

const RESTART = "restart the VM to apply";
const SYNC_RESTART = "vgpu-admin sync, then restart the VM";

function compare(s: VmDriftState, proc: QemuProcess): QemuView {
  const stubs = parseDeviceArgs(proc.argv.slice(1).join(" ")).stubs;
  const base = { vmUuid: s.vmUuid, domid: proc.domid, pid: proc.pid, stubs };
  const qx = sameStubs(stubs, s.parsed.stubs);
  const reg = s.registered;
  const view = (
    matchesDatabase: boolean | null,
    detail: string,
    fix: string | null,
  ): QemuView => ({
    ...base,
    status: fix === null ? "matches" : "differs",
    matchesXapi: qx,
    matchesDatabase,
    detail,
    fix,
  });
  if (reg === null) {
    return qx ? view(null, "matches xapi", null) : view(null, "differs from xapi", RESTART);
  }
  const qd = stubs.length === 1 && stubs[0].config !== null && sameConfig(stubs[0].config, reg);
  const xd = s.applied !== null && sameConfig(s.applied, reg);
  if (qx && qd) return view(true, "matches xapi", null);
  if (qx) return view(false, "matches xapi, but not the database", SYNC_RESTART);
  if (xd) return view(false, "differs from xapi", RESTART);
  if (qd) {
    return view(true, "matches the database, but xapi differs", "vgpu-admin sync (no restart)");
  }
  return view(false, "differs from xapi and the database", SYNC_RESTART);
}

function unchecked(
  s: VmDriftState,
  status: QemuStatus,
  detail: string,
  domid: number | null,
): QemuView {
  return {
    vmUuid: s.vmUuid,
    status,
    domid,
    pid: null,
    stubs: [],
    matchesXapi: null,
    matchesDatabase: null,
    detail,
    fix: null,
  };
}

/**
 * A VM whose domain has no device-model process under the proc root: its line made when read.
 * Every running VM of a host can be one (a proc root without QEMU: 3,000 of 10,000 VMs), and
 * three fields hold it (issue 19, doctor's peak RSS).
 */
class NoProcess implements QemuView {
  constructor(readonly vmUuid: string, readonly domid: number, readonly procRoot: string) {}
  get status(): QemuStatus {
    return "not-found";
  }
  get pid(): null {
    return null;
  }
  get stubs(): VgpuStub[] {
    return [];
  }
  get matchesXapi(): null {
    return null;
  }
  get matchesDatabase(): null {
    return null;
  }
  get detail(): string {
    return `no process with -xen-domid ${this.domid} in ${this.procRoot}`;
  }
  get fix(): null {
    return null;
  }
}

/**
 * For every VM of the scan that has a domain on this host and is registered or carries a
 * vgpu-stub: finds its device-model process under `procRoot` (its domid read by the scan's own
 * vm-list: ScanInput.domIds) and compares the stub it runs with xapi's args and the database.
 * Never throws for /proc failures: they end up in `error`.
 */
export function compareQemu(view: ScanView, procRoot: string): QemuReport {
  const report: QemuReport = {
    vms: new Map(),
    error: null,
    errorFix: null,
    procRoot,
  };
  if (view.host.kind !== "read") return report;
  const local = view.host.localHost;
  const states = view.host.drift.vms.filter((s): s is VmDriftState & { host: HostVm } =>
    s.host !== null && (s.host.powerState === "running" || s.host.powerState === "paused") &&
    (s.registered !== null || s.parsed.stubs.length > 0)
  );
  if (states.length === 0) return report;
  const domids = view.host.domIds;
  if (domids === null) throw new Error("bug: compareQemu needs a scan that read the dom-ids");
  let procs: Map<number, QemuProcess>;
  try {
    procs = readDeviceModels(procRoot);
  } catch (e) {
    if (!(e instanceof ProcReadError)) throw e;
    report.error = e.message;
    report.errorFix = e.fix;
    return report;
  }
  for (const s of states) {
    const h = s.host;
    if (local !== null && h.residentOn !== null && h.residentOn !== local) {
      report.vms.set(s.vmUuid, unchecked(s, "not-checked", "runs on another host", null));
      continue;
    }
    const domid = domids.get(s.vmUuid) ?? null;
    if (domid === null) {
      report.vms.set(s.vmUuid, unchecked(s, "not-found", "xe gives it no dom-id", null));
      continue;
    }
    const proc = procs.get(domid);
    if (proc === undefined) {
      report.vms.set(s.vmUuid, new NoProcess(s.vmUuid, domid, procRoot));
      continue;
    }
    report.vms.set(s.vmUuid, compare(s, proc));
  }
  return report;
}

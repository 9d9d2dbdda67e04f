// Reading the host and comparing it with the database: the view behind scan-vms, status,
// show-vm and sync. One xe call (vm-list; host-list too when a VM runs on another host or the
// inventory does not name this host) plus one per ambiguous platform line.
import { DriftPlan, type DriftReport } from "../domain/drift.ts";
import { VgpuError } from "../domain/errors.ts";
import type { Host, HostVm, Vm } from "../domain/types.ts";
import type { StaleRun, Store } from "../store/store.ts";
import type { KnownVm, Xe } from "../xe/client.ts";
import { allEnded } from "../xe/all-ended.ts";

/** What the scan learnt from the host: each case carries exactly what it knows. */
export type HostRead =
  /** --offline: the host was not asked. */
  | { kind: "offline" }
  /** xe failed; only the database can be shown. */
  | { kind: "unreadable"; error: string }
  | HostView;

export interface HostView {
  kind: "read";
  vms: HostVm[];
  hosts: Host[];
  /** This host's uuid when known (inventory, or the only host of the pool). */
  localHost: string | null;
  drift: DriftReport;
  /** uuid → dom-id of the VMs that have a domain, read with them when asked (ScanInput.domIds). */
  domIds: Map<string, number> | null;
}

export interface ScanView {
  registered: Vm[];
  host: HostRead;
  /** Stale-start records of VMs that are still running (or all, when the host is unknown). */
  staleRuns: Map<string, StaleRun>;
  xeCalls: number;
}

/** The xe problem of a scan, or null (read, or not asked). */
export function hostError(view: ScanView): string | null {
  return view.host.kind === "unreadable" ? view.host.error : null;
}

export interface ScanInput {
  store: Store;
  xe: () => Promise<Xe>;
  /** Database only: the host is not asked. */
  offline: boolean;
  localHostUuid: string | null;
  /** Only this VM (show-vm): `vm-list uuid=U`, no host-list. */
  vmUuid?: string;
  /** Also each VM's domain id, in the same vm-list (the QEMU check). */
  domIds?: boolean;
}

/** Reads the database and (unless offline) the host; an xe failure is kept, not thrown. */
export async function scan(input: ScanInput): Promise<ScanView> {
  const { store } = input;
  // xe is asked first (its calls are spawned before this function next waits): its answer takes
  // longer than reading the rows, which happens meanwhile (issue 19).
  let host: Promise<HostAnswer> | null = null;
  // the database's side of the drift, made once the rows are read, while xe answers (this
  // function reads them before it next waits): the host's VMs share its strings as xe's answer is
  // read
  let plan: DriftPlan | null = null;
  if (!input.offline) {
    try {
      host = readHost(await input.xe(), input, (uuid) => plan?.known(uuid));
    } catch (e) {
      if (!(e instanceof VgpuError)) throw e;
      host = Promise.resolve({ read: null, xeCalls: 0, error: e.message });
    }
    host.catch(() => {}); // awaited below; a database error must not leave it unhandled
  }
  const registered = input.vmUuid === undefined
    ? store.listVms()
    : [store.getVm(input.vmUuid)].filter((v): v is Vm => v !== null);
  if (host !== null) plan = new DriftPlan(registered);
  const stale = new Map(store.listStaleRuns().map((r) => [r.vmUuid, r]));
  if (host === null) {
    return { registered, host: { kind: "offline" }, staleRuns: stale, xeCalls: 0 };
  }
  const { read, xeCalls, error } = await host;
  if (read === null) {
    return { registered, host: { kind: "unreadable", error }, staleRuns: stale, xeCalls };
  }
  // A stale-start record only matters while that VM runs; halted VMs start fresh.
  if (stale.size > 0) {
    // (only when there are records: a set of every running VM's uuid costs at 10,000 VMs)
    const running = new Set(read.vms.filter((v) => v.powerState !== "halted").map((v) => v.uuid));
    for (const uuid of [...stale.keys()]) if (!running.has(uuid)) stale.delete(uuid);
  }
  const drift = plan!.finish(read.vms);
  return { registered, host: { kind: "read", ...read, drift }, staleRuns: stale, xeCalls };
}

interface HostAnswer {
  read: {
    vms: HostVm[];
    hosts: Host[];
    localHost: string | null;
    domIds: Map<string, number> | null;
  } | null;
  xeCalls: number;
  error: string;
}

/**
 * vm-list (and host-list), or the xe error that kept them from being read. Its calls are
 * spawned before it first waits.
 */
async function readHost(xe: Xe, input: ScanInput, known: KnownVm): Promise<HostAnswer> {
  const before = xe.calls;
  try {
    let read: HostAnswer["read"];
    if (input.vmUuid !== undefined) {
      const vms = await xe.vmList({ uuid: input.vmUuid }, known);
      read = { vms, hosts: [], localHost: input.localHostUuid, domIds: null };
    } else {
      read = await readWholeHost(xe, input.localHostUuid, known, input.domIds === true);
    }
    return { read, xeCalls: xe.calls - before, error: "" };
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    return { read: null, xeCalls: xe.calls - before, error: e.message };
  }
}

/**
 * Every VM, and the hosts when they are needed. When the inventory names this host (a real dom0
 * always has it), host-list is asked only if a VM runs on another host: its names are shown for
 * those VMs and for nothing else. Without the inventory, both calls run at once, and the pool's
 * only host is this host.
 */
async function readWholeHost(
  xe: Xe,
  local: string | null,
  known: KnownVm,
  withDomIds: boolean,
): Promise<NonNullable<HostAnswer["read"]>> {
  const domIds = withDomIds ? new Map<string, number>() : null;
  if (local === null) {
    const [vms, hosts] = await allEnded([xe.vmList({}, known, domIds ?? undefined), xe.hostList()]);
    return { vms, hosts, localHost: hosts.length === 1 ? hosts[0].uuid : null, domIds };
  }
  const vms = await xe.vmList({}, known, domIds ?? undefined);
  const elsewhere = vms.some((v) => v.residentOn !== null && v.residentOn !== local);
  return { vms, hosts: elsewhere ? await xe.hostList() : [], localHost: local, domIds };
}

/** Name of a host for display: its name-label, else its uuid. */
export function hostName(view: HostView, uuid: string): string {
  return view.hosts.find((h) => h.uuid === uuid)?.nameLabel ?? uuid;
}

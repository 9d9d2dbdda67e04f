// Reading the host and comparing it with the database: the view behind scan-vms, status,
// show-vm and sync. Two xe calls (vm-list, host-list) plus one per ambiguous platform line.
import { computeDrift, type DriftReport } from "../domain/drift.ts";
import { VgpuError } from "../domain/errors.ts";
import type { Host, HostVm, Vm } from "../domain/types.ts";
import type { StaleRun, Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";

export interface HostView {
  vms: HostVm[];
  hosts: Host[];
  /** This host's uuid when known (inventory, or the only host of the pool). */
  localHost: string | null;
}

export interface ScanView {
  registered: Vm[];
  /** null when xe failed; `hostError` then says why. */
  host: HostView | null;
  hostError: string | null;
  drift: DriftReport | null;
  /** Stale-start records of VMs that are still running (or all, when the host is unknown). */
  staleRuns: Map<string, StaleRun>;
  xeCalls: number;
}

export interface ScanInput {
  store: Store;
  /** null: database only (--offline). */
  xe: () => Promise<Xe>;
  offline: boolean;
  localHostUuid: string | null;
  /** Only this VM (show-vm): `vm-list uuid=U`, no host-list. */
  vmUuid?: string;
}

/** Reads the database and (unless offline) the host; an xe failure is kept, not thrown. */
export async function scan(input: ScanInput): Promise<ScanView> {
  const { store } = input;
  const registered = input.vmUuid === undefined
    ? store.listVms()
    : [store.getVm(input.vmUuid)].filter((v): v is Vm => v !== null);
  const stale = new Map(store.listStaleRuns().map((r) => [r.vmUuid, r]));
  if (input.offline) {
    return {
      registered,
      host: null,
      hostError: null,
      drift: null,
      staleRuns: stale,
      xeCalls: 0,
    };
  }
  let host: HostView | null = null;
  let hostError: string | null = null;
  let xeCalls = 0;
  try {
    const xe = await input.xe();
    const before = xe.calls;
    try {
      if (input.vmUuid !== undefined) {
        const vms = await xe.vmList({ uuid: input.vmUuid });
        host = { vms, hosts: [], localHost: input.localHostUuid };
      } else {
        const [vms, hosts] = await Promise.all([xe.vmList(), xe.hostList()]);
        const localHost = input.localHostUuid ?? (hosts.length === 1 ? hosts[0].uuid : null);
        host = { vms, hosts, localHost };
      }
    } finally {
      xeCalls = xe.calls - before;
    }
  } catch (e) {
    if (!(e instanceof VgpuError)) throw e;
    hostError = e.message;
  }
  const drift = host === null ? null : computeDrift(registered, host.vms);
  if (host !== null) {
    // A stale-start record only matters while that VM runs; halted VMs start fresh.
    const running = new Set(host.vms.filter((v) => v.powerState !== "halted").map((v) => v.uuid));
    for (const uuid of [...stale.keys()]) if (!running.has(uuid)) stale.delete(uuid);
  }
  return { registered, host, hostError, drift, staleRuns: stale, xeCalls };
}

/** Name of a host for display: its name-label, else its uuid. */
export function hostName(view: HostView, uuid: string): string {
  return view.hosts.find((h) => h.uuid === uuid)?.nameLabel ?? uuid;
}

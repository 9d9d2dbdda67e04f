// Drift between the database (desired) and the VMs' QEMU args on the host (applied),
// compared by parsed vgpu-stub properties, never by strings (design.md §2 "drift",
// "unregistered VMs"). Pure, no I/O; linear in the number of VMs (maps, no nested scans).

import {
  buildDevice,
  inSyncParse,
  type ParsedArgs,
  parseDeviceArgs,
  sameConfig,
  type VgpuStub,
} from "./device-args.ts";
import { ownString } from "./own-string.ts";
import { printable } from "./printable.ts";
import { type UuidIndex, UuidTable } from "./uuid-table.ts";
import { type HostVm, priorityName, type VgpuConfig, type Vm } from "./types.ts";

export type DriftKind =
  /** Registered VM on the host without a vgpu-stub device. */
  | "args-missing"
  /** Registered VM with one vgpu-stub whose config differs from the database or is invalid. */
  | "args-different"
  /** Several vgpu-stub devices on one VM. */
  | "multiple-devices"
  /** Registered VM that the host no longer lists. */
  | "vm-gone"
  /** Unregistered VM carrying a vgpu-stub (hand-configured, or a clone). */
  | "unregistered-device"
  /** A vm_id carried by this VM's device and held by, or carried by, another VM. */
  | "vmid-collision";

/** Every kind, in the order a VM's items are listed. */
export const DRIFT_KINDS: readonly DriftKind[] = [
  "vm-gone",
  "args-missing",
  "args-different",
  "unregistered-device",
  "multiple-devices",
  "vmid-collision",
];

/** One difference on one VM, with the exact command that fixes it. */
export interface DriftItem {
  kind: DriftKind;
  vmUuid: string;
  /** One line, for humans. */
  detail: string;
  /** The exact command that fixes it (full uuid, `--name=value` options). */
  fix: string;
  /** vmid-collision: the rightful holder (registered VM) or another VM carrying the id. */
  otherVmUuid?: string;
  /** vmid-collision: the vm_id in question. */
  vmId?: number;
}

interface VmStateBase {
  vmUuid: string;
  /** The host's args parsed (no stubs when the VM is not on the host). */
  parsed: ParsedArgs;
  /** The config of the VM's only vgpu-stub when there is exactly one and it is valid. */
  applied: VgpuConfig | null;
  /** Empty when in sync (or unregistered without a vgpu-stub). */
  drift: DriftItem[];
}

/** A registered VM: on the host, or gone from it (`host` null). */
export interface RegisteredVmState extends VmStateBase {
  registered: Vm;
  host: HostVm | null;
}

/** A VM the host lists and the database does not know. */
export interface UnregisteredVmState extends VmStateBase {
  registered: null;
  host: HostVm;
}

/** One VM that is registered, on the host, or both. */
export type VmDriftState = RegisteredVmState | UnregisteredVmState;

export interface DriftReport {
  /** Registered VMs in the given order, then host-only VMs in host order. */
  vms: VmDriftState[];
  /** Every item, grouped by VM in the order of `vms`. */
  items: DriftItem[];
  /** Every VM of `vms` by its uuid. */
  byUuid: UuidIndex<VmDriftState>;
}

/**
 * Drift that `sync --check` counts (and doctor with it): everything but a hand-configured VM that
 * collides with nothing.
 */
export function countsAsDrift(d: DriftItem): boolean {
  return d.kind !== "unregistered-device";
}

/** The fix of every drift item that `sync` repairs. */
export const SYNC_FIX = "vgpu-admin sync";
const SYNC = SYNC_FIX;
const registerVm = (uuid: string) => `vgpu-admin register-vm --vm-uuid=${uuid}`;

/** `pool_id=A,priority=high,vm_id=1`, the way the device spells it. */
function props(c: VgpuConfig): string {
  return `pool_id=${c.pool},priority=${priorityName(c.priority)},vm_id=${c.vmId}`;
}

/** `VM <uuid> (<name>)`, the name kept on one line. */
function vmLabel(uuid: string, name: string | null | undefined): string {
  const clean = name == null ? "" : printable(name.trim());
  return clean ? `VM ${uuid} (${clean})` : `VM ${uuid}`;
}

function differences(applied: VgpuConfig, wanted: VgpuConfig): string {
  const out: string[] = [];
  if (applied.pool !== wanted.pool) out.push(`pool_id=${applied.pool} (database ${wanted.pool})`);
  if (applied.priority !== wanted.priority) {
    out.push(
      `priority=${priorityName(applied.priority)} (database ${priorityName(wanted.priority)})`,
    );
  }
  if (applied.vmId !== wanted.vmId) out.push(`vm_id=${applied.vmId} (database ${wanted.vmId})`);
  return out.join(", ");
}

/**
 * The drift of every VM without any: one frozen empty list shared by them all (10,000 in-sync VMs
 * need no list each, issue 19); `own` gives a VM its own list before an item is added.
 */
const NO_DRIFT: DriftItem[] = Object.freeze([]) as unknown as DriftItem[];

function own(s: VmDriftState): DriftItem[] {
  if (s.drift === NO_DRIFT) s.drift = [];
  return s.drift;
}

function ownDrift(s: VmDriftState, stubs: VgpuStub[]): DriftItem[] {
  const { vmUuid: uuid, registered: reg, host } = s;
  const item = (kind: DriftKind, detail: string, fix: string): DriftItem => ({
    kind,
    vmUuid: uuid,
    detail,
    fix,
  });
  if (reg !== null && host === null) {
    return [
      item(
        "vm-gone",
        "registered, but xe does not list this VM",
        `vgpu-admin remove-vm --vm-uuid=${uuid}`,
      ),
    ];
  }
  if (reg !== null) {
    if (stubs.length === 0) {
      return [
        item(
          "args-missing",
          `no vgpu-stub device in its QEMU args (database: ${props(reg)})`,
          SYNC,
        ),
      ];
    }
    if (stubs.length > 1) {
      return [
        item(
          "multiple-devices",
          `${stubs.length} vgpu-stub devices in its QEMU args (one expected)`,
          SYNC,
        ),
      ];
    }
    const [stub] = stubs;
    if (stub.config === null) {
      return [item("args-different", `vgpu-stub is invalid: ${stub.problems.join("; ")}`, SYNC)];
    }
    if (!sameConfig(stub.config, reg)) {
      return [
        item(
          "args-different",
          `vgpu-stub differs from the database: ${differences(stub.config, reg)}`,
          SYNC,
        ),
      ];
    }
    return NO_DRIFT;
  }
  if (stubs.length === 0) return NO_DRIFT; // unregistered and plain: left exactly as it is
  const out: DriftItem[] = [];
  if (stubs.length > 1) {
    out.push(
      item(
        "unregistered-device",
        `not registered, but carries ${stubs.length} vgpu-stub devices`,
        registerVm(uuid),
      ),
    );
    out.push(
      item(
        "multiple-devices",
        `${stubs.length} vgpu-stub devices in its QEMU args (one expected)`,
        registerVm(uuid),
      ),
    );
  } else if (stubs[0].config === null) {
    out.push(
      item(
        "unregistered-device",
        `not registered, but carries an invalid vgpu-stub: ${stubs[0].problems.join("; ")}`,
        registerVm(uuid),
      ),
    );
  } else {
    out.push(
      item(
        "unregistered-device",
        `not registered, but carries vgpu-stub ${props(stubs[0].config)}`,
        `vgpu-admin adopt --vm-uuid=${uuid}`,
      ),
    );
  }
  return out;
}

/**
 * Compares registered VMs (the database) with the host's guests (dom0 excluded) and lists
 * every drift item per VM. The rightful holder of a vm_id is the registered VM whose database
 * row has it: any other VM whose device carries that id collides with it; without such a
 * holder, VMs whose devices carry the same id collide with each other. In-sync registered VMs
 * and unregistered VMs without a vgpu-stub get no items.
 */
export function computeDrift(registered: readonly Vm[], hostVms: readonly HostVm[]): DriftReport {
  return new DriftPlan(registered).finish(hostVms);
}

/** A registered VM as the host's VMs are read (xe/client.ts KnownVm): the strings to share. */
export interface KnownRegistered {
  readonly vmUuid: string;
  readonly vmName: string | null;
  /** The args it carries when in sync (buildDevice); null when its row cannot be written. */
  readonly deviceArgs: string | null;
}

/**
 * computeDrift in two steps: the database's side made first, the host's VMs added by `finish`
 * (once). scan reads the rows while xe answers and makes this meanwhile (issue 19: at 10,000
 * VMs, ~15 ms of the work after xe's answer moved before it): a state for each registered VM
 * (the first row of a uuid), the index of states by uuid, the vm_ids held, and for each
 * registered VM the args it carries when in sync. When the host's args are exactly those (nearly
 * always), their parse is made from the row and the VM has no item of its own: they are not read
 * again.
 *
 * No Map of the VMs: uuids are found in a typed-array table (uuid-table.ts), the vm_ids held and
 * carried in sorted typed arrays. A Map of 10,000 entries is ~0.5 MB, and as much again in
 * garbage while it grows: four of them were most of the allocation of a scan at 10,000 VMs
 * (issue 19, peak RSS).
 */
export class DriftPlan {
  readonly #registered: readonly Vm[];
  /** The registered VMs' states first (as many as #inSyncArgs), then the host's others. */
  readonly #vms: VmDriftState[] = [];
  readonly #byUuid: UuidTable<VmDriftState>;
  /** Per registered state, at its position in #vms: the args it carries when in sync. */
  readonly #inSyncArgs: (string | null)[] = [];
  /** vm_ids the database holds, sorted; true when one is held twice. */
  readonly #heldIds: Float64Array;
  readonly #heldTwice: boolean;
  #finished = false;

  constructor(registered: readonly Vm[]) {
    this.#registered = registered;
    const vms = this.#vms;
    this.#byUuid = new UuidTable(registered.length, vms, (s) => s.vmUuid);
    // the first registered row of a uuid wins
    for (const r of registered) {
      if (this.#byUuid.has(r.vmUuid)) continue;
      const s = {
        vmUuid: r.vmUuid,
        parsed: NOT_ON_HOST,
        applied: null,
        drift: NO_DRIFT,
        registered: r,
        host: null,
      } as VmDriftState;
      this.#byUuid.set(vms.push(s) - 1);
      this.#inSyncArgs.push(inSyncArgs(r));
    }
    // `held` by binary search; the holder itself (the last row of an id) is looked up only for
    // a collision, or for every carrier when an id is held twice
    const heldIds = Float64Array.from(registered, (r) => r.vmId).sort();
    let heldTwice = false;
    for (let i = 1; i < heldIds.length && !heldTwice; i++) {
      heldTwice = heldIds[i] === heldIds[i - 1];
    }
    this.#heldIds = heldIds;
    this.#heldTwice = heldTwice;
  }

  /** The registered VM of a uuid (the first row of it), or undefined. */
  known(uuid: string): KnownRegistered | undefined {
    const i = this.#byUuid.indexOf(uuid);
    if (i < 0 || i >= this.#inSyncArgs.length) return undefined;
    const r = this.#vms[i].registered!;
    return { vmUuid: r.vmUuid, vmName: r.vmName, deviceArgs: this.#inSyncArgs[i] };
  }

  /** The report, with the host's VMs (dom0 excluded). Once. */
  finish(hostVms: readonly HostVm[]): DriftReport {
    if (this.#finished) throw new Error("bug: DriftPlan.finish called twice");
    this.#finished = true;
    const vms = this.#vms;
    const byUuid = this.#byUuid;
    const registeredStates = this.#inSyncArgs.length;
    // a registered VM takes the host's last VM of its uuid; the host-only VMs come after the
    // registered ones, in host order (the first of a repeated uuid)
    for (const h of hostVms) {
      const i = byUuid.indexOf(h.uuid);
      if (i < 0) {
        const s = {
          vmUuid: h.uuid,
          parsed: NOT_ON_HOST,
          applied: null,
          drift: NO_DRIFT,
          registered: null,
          host: h,
        } as VmDriftState;
        byUuid.set(vms.push(s) - 1);
      } else if (i < registeredStates) vms[i].host = h;
    }
    // each VM's parse and own items, and the vm_ids its devices carry (each once): one, nearly
    // always (NaN: none or several), else the list
    const one = new Float64Array(vms.length).fill(NaN);
    const several = new Map<number, number[]>();
    for (let i = 0; i < vms.length; i++) {
      const s = vms[i];
      const args = s.host?.deviceModelArgs ?? null;
      if (i < registeredStates && args !== null && args === this.#inSyncArgs[i]) {
        // in sync (nearly always): the parse made from its row, no item of its own
        const parsed = inSyncParse(args, s.registered!);
        s.parsed = parsed;
        s.applied = parsed.stub.config;
        one[i] = s.registered!.vmId;
        continue;
      }
      const parsed = parseDeviceArgs(args);
      const stubs = parsed.stubs;
      s.parsed = parsed;
      s.applied = stubs.length === 1 ? stubs[0].config : null;
      s.drift = ownDrift(s, stubs);
      if (stubs.length === 1) {
        const id = stubs[0].vmId;
        if (id !== null) one[i] = id;
      } else if (stubs.length > 1) {
        const ids = new Set<number>();
        for (const stub of stubs) if (stub.vmId !== null) ids.add(stub.vmId);
        several.set(i, [...ids]);
      }
    }
    const carried = (f: (id: number, s: VmDriftState) => void) => {
      for (let i = 0; i < vms.length; i++) {
        if (!Number.isNaN(one[i])) f(one[i], vms[i]);
        else for (const id of several.get(i) ?? []) f(id, vms[i]);
      }
    };
    return collisions(this.#registered, vms, byUuid, this.#heldIds, this.#heldTwice, carried);
  }
}

/** What a VM not on the host carries: nothing (one frozen parse for them all). */
const NOT_ON_HOST: ParsedArgs = Object.freeze({ stubs: Object.freeze([]) as unknown as [] });

/** buildDevice(r) in one string, or null for a row it refuses (the store never returns one). */
function inSyncArgs(r: Vm): string | null {
  try {
    return ownString(buildDevice(r));
  } catch {
    return null;
  }
}

/** The vm_id collisions added to the VMs' own items, and the report. */
function collisions(
  registered: readonly Vm[],
  vms: VmDriftState[],
  byUuid: UuidTable<VmDriftState>,
  heldIds: Float64Array,
  heldTwice: boolean,
  eachCarried: (f: (id: number, s: VmDriftState) => void) => void,
): DriftReport {
  let holders: Map<number, Vm> | null = null;
  const holderOf = (vmId: number): Vm | undefined => {
    if (holders === null) {
      holders = new Map();
      for (const r of registered) holders.set(r.vmId, r);
    }
    return holders.get(vmId);
  };

  // the vm_ids carried, sorted: an id carried by two VMs shows as a run
  let count = 0;
  eachCarried(() => count++);
  const carriedIds = new Float64Array(count);
  count = 0;
  eachCarried((id) => carriedIds[count++] = id);
  carriedIds.sort();
  const carriedTwice = new Set<number>();
  for (let i = 1; i < carriedIds.length; i++) {
    if (carriedIds[i] === carriedIds[i - 1]) carriedTwice.add(carriedIds[i]);
  }

  // the ids that may collide, in the order their first carrier comes: carried twice, or carried
  // once by another VM than the one holding it
  const groups = new Map<number, VmDriftState[]>();
  const carry = (id: number, s: VmDriftState) => {
    if (carriedTwice.has(id)) {
      const list = groups.get(id);
      if (list === undefined) groups.set(id, [s]);
      else list.push(s);
      return;
    }
    // the usual case: the VM carries the id its own row holds
    if (!heldTwice && s.registered !== null && s.registered.vmId === id) return;
    if (!has(heldIds, id)) return;
    if (holderOf(id)!.vmUuid !== s.vmUuid) groups.set(id, [s]);
  };
  eachCarried(carry);

  const nameOf = (uuid: string) =>
    byUuid.get(uuid)?.registered?.vmName ?? byUuid.get(uuid)?.host?.nameLabel ?? null;
  // A clone must be registered with an id nobody holds or carries (register-vm refuses the one it
  // carries): each collision line offers the next such id.
  let nextFree = 0;
  const freeId = () =>
    nextFree = nextFreeVmId((id) => has(heldIds, id) || has(carriedIds, id), nextFree);
  const collision = (s: VmDriftState, vmId: number, other: string, detail: string) =>
    own(s).push({
      kind: "vmid-collision",
      vmUuid: s.vmUuid,
      detail,
      // A registered non-holder only carries a stale id: rewriting its args fixes it.
      fix: s.registered ? SYNC : `${registerVm(s.vmUuid)} --vm-id=${freeId()}`,
      otherVmUuid: other,
      vmId,
    });
  for (const [vmId, list] of groups) {
    const holder = has(heldIds, vmId) ? holderOf(vmId) : undefined;
    if (holder !== undefined) {
      const label = vmLabel(holder.vmUuid, nameOf(holder.vmUuid));
      for (const s of list) {
        if (s.vmUuid === holder.vmUuid) continue;
        collision(s, vmId, holder.vmUuid, `vm_id ${vmId} belongs to registered ${label}`);
      }
    } else if (list.length > 1) {
      for (let i = 0; i < list.length; i++) {
        const other = list[i === 0 ? 1 : 0];
        const more = list.length > 2 ? ` and ${list.length - 2} more` : "";
        const label = vmLabel(other.vmUuid, nameOf(other.vmUuid));
        collision(list[i], vmId, other.vmUuid, `vm_id ${vmId} is also carried by ${label}${more}`);
      }
    }
  }

  // nearly every VM has no item: no flatMap over 10,000 empty lists
  const items: DriftItem[] = [];
  for (const s of vms) if (s.drift.length > 0) items.push(...s.drift);
  return { vms, items, byUuid };
}

/** `id` is in the ascending `sorted` (binary search). */
function has(sorted: Float64Array, id: number): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo] === id;
}

/**
 * The lowest vm_id above `after` that `taken` refuses: nobody holds it in the database and no VM
 * carries it in its args. The one rule behind every "next free vm_id" the views and errors offer.
 */
export function nextFreeVmId(taken: (vmId: number) => boolean, after = 0): number {
  let id = after;
  do id++; while (taken(id));
  return id;
}

/**
 * computeDrift keeps one Map (byUuid) and finds the vm_ids held and carried in sorted typed arrays
 * (issue 19: four Maps of 10,000 entries were most of a scan's allocation). Its report must be
 * exactly what the Map-based computeDrift gave: that one is kept here, whole, as the reference,
 * and both run on thousands of random hosts full of clones, collisions, repeated uuids and ids.
 */
import assert from "node:assert/strict";
import { computeDrift, type DriftReport, nextFreeVmId, SYNC_FIX } from "../src/domain/drift.ts";
import type { DriftItem, VmDriftState } from "../src/domain/drift.ts";
import { parseDeviceArgs } from "../src/domain/device-args.ts";
import { printable } from "../src/domain/printable.ts";
import type { HostVm, PoolId, Priority, Vm } from "../src/domain/types.ts";

// ---- the reference: computeDrift as it was before (the Map-based indexes), drift items from
// the product's own computeDrift of one VM at a time (ownDrift is not exported) ----
const SYNC = SYNC_FIX;
const registerVm = (uuid: string) => `vgpu-admin register-vm --vm-uuid=${uuid}`;
function vmLabel(uuid: string, name: string | null | undefined): string {
  const clean = name == null ? "" : printable(name.trim());
  return clean ? `VM ${uuid} (${clean})` : `VM ${uuid}`;
}
const NO_DRIFT: DriftItem[] = Object.freeze([]) as unknown as DriftItem[];
function own(s: VmDriftState): DriftItem[] {
  if (s.drift === NO_DRIFT) s.drift = [];
  return s.drift;
}
/** A VM's own items (no collisions): computeDrift of that VM alone gives exactly them. */
function ownDrift(s: VmDriftState): DriftItem[] {
  const alone = computeDrift(s.registered ? [s.registered] : [], s.host ? [s.host] : []);
  const items = alone.vms[0].drift.filter((d) => d.kind !== "vmid-collision");
  return items.length === 0 ? NO_DRIFT : items;
}

function referenceDrift(registered: readonly Vm[], hostVms: readonly HostVm[]): DriftReport {
  const hostByUuid = new Map<string, HostVm>();
  for (const h of hostVms) hostByUuid.set(h.uuid, h);
  const holderByVmId = new Map<number, Vm>();
  for (const r of registered) holderByVmId.set(r.vmId, r);

  const vms: VmDriftState[] = [];
  const byUuid = new Map<string, VmDriftState>();
  // one state object per VM, built whole (no base object copied into it)
  const add = (vmUuid: string, registered: Vm | null, host: HostVm | null) => {
    const parsed = parseDeviceArgs(host?.deviceModelArgs ?? null);
    const applied = parsed.stubs.length === 1 ? parsed.stubs[0].config : null;
    const s = { vmUuid, parsed, applied, drift: NO_DRIFT, registered, host } as VmDriftState;
    s.drift = ownDrift(s);
    vms.push(s);
    byUuid.set(vmUuid, s);
  };
  for (const r of registered) {
    if (!byUuid.has(r.vmUuid)) add(r.vmUuid, r, hostByUuid.get(r.vmUuid) ?? null);
  }
  for (const h of hostVms) if (!byUuid.has(h.uuid)) add(h.uuid, null, h);

  // vm_id → the host VMs whose devices carry it (each VM once per id): the one VM itself, a list
  // only when another carries it too (nearly every id has one carrier: no array per VM)
  const carriers = new Map<number, VmDriftState | VmDriftState[]>();
  const carry = (id: number, s: VmDriftState) => {
    const had = carriers.get(id);
    if (had === undefined) carriers.set(id, s);
    else if (Array.isArray(had)) had.push(s);
    else carriers.set(id, [had, s]);
  };
  for (const s of vms) {
    const stubs = s.parsed.stubs;
    if (stubs.length === 0) continue;
    // one device (nearly every VM): no set of ids needed
    if (stubs.length === 1) {
      if (stubs[0].vmId !== null) carry(stubs[0].vmId, s);
      continue;
    }
    const ids = new Set<number>();
    for (const stub of stubs) if (stub.vmId !== null) ids.add(stub.vmId);
    for (const id of ids) carry(id, s);
  }
  const nameOf = (uuid: string) =>
    byUuid.get(uuid)?.registered?.vmName ?? byUuid.get(uuid)?.host?.nameLabel ?? null;
  // A clone must be registered with an id nobody holds or carries (register-vm refuses the one it
  // carries): each collision line offers the next such id.
  let nextFree = 0;
  const freeId = () =>
    nextFree = nextFreeVmId((id) => holderByVmId.has(id) || carriers.has(id), nextFree);
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
  for (const [vmId, had] of carriers) {
    const holder = holderByVmId.get(vmId);
    // the usual case: the id's holder alone carries it
    if (!Array.isArray(had) && (holder === undefined || had.vmUuid === holder.vmUuid)) continue;
    const list = Array.isArray(had) ? had : [had];
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

// ---- random hosts ----
let seed = 1;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return (seed >>> 12) % n; // the high bits: the low ones repeat with a short period
}
const U = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
const dev = (id: number | string, pool = "A", prio = "high") =>
  `-device vgpu-stub,pool_id=${pool},priority=${prio},vm_id=${id}`;

function randomHost(): { registered: Vm[]; host: HostVm[] } {
  const nUuids = 1 + rand(14);
  const ids = () => 1 + rand(8); // few ids: collisions are common
  const registered: Vm[] = [];
  for (let k = 0, n = rand(10); k < n; k++) {
    const at = "2025-01-01 00:00:00";
    registered.push({
      vmUuid: U(rand(nUuids)),
      vmName: rand(3) === 0 ? null : `vm ${k}`,
      pool: (rand(2) === 0 ? "A" : "B") as PoolId,
      priority: rand(3) as Priority,
      vmId: ids(),
      createdAt: at,
      updatedAt: at,
    });
  }
  const host: HostVm[] = [];
  for (let k = 0, n = rand(12); k < n; k++) {
    const own = registered[rand(registered.length + 1)];
    let args: string | null;
    switch (rand(9)) {
      case 0:
        args = null;
        break;
      case 1:
        args = "-vga std";
        break;
      case 2:
        args = dev(own?.vmId ?? ids(), own?.pool, ["low", "medium", "high"][own?.priority ?? 2]);
        break;
      case 3:
        args = `${dev(ids())} ${dev(ids(), "B")}`;
        break;
      case 4:
        args = `${dev(ids())} -vga std ${dev(ids())} ${dev(ids())}`;
        break;
      case 5:
        args = "-device vgpu-stub,pool_id=A,priority=high"; // no vm_id
        break;
      case 6:
        args = "-device vgpu-stub,pool_id=Z,priority=high,vm_id=3"; // invalid, carries 3
        break;
      default:
        args = `-vga std ${dev(ids(), rand(2) ? "A" : "B", "low")}`;
    }
    host.push({
      uuid: U(rand(2) === 0 && own ? Number.parseInt(own.vmUuid.slice(-12), 16) : rand(nUuids)),
      nameLabel: rand(4) === 0 ? "" : `host ${k}`,
      powerState: "running",
      residentOn: null,
      deviceModelArgs: args,
    });
  }
  return { registered, host };
}

/** The report as plain data: states by position (which registered row and host VM), items. */
function plain(r: DriftReport, registered: Vm[], host: HostVm[]) {
  return {
    vms: r.vms.map((s) => ({
      vmUuid: s.vmUuid,
      registered: s.registered === null ? -1 : registered.indexOf(s.registered),
      host: s.host === null ? -1 : host.indexOf(s.host),
      applied: s.applied,
      drift: s.drift,
    })),
    items: r.items,
    // every uuid asked of byUuid: the registered ones, the host's, and one nobody has
    byUuid: [...registered.map((v) => v.vmUuid), ...host.map((h) => h.uuid), U(999)].map((u) => {
      const s = r.byUuid.get(u);
      assert.equal(r.byUuid.has(u), s !== undefined);
      return [u, s === undefined ? -1 : r.vms.indexOf(s)];
    }),
  };
}

Deno.test("computeDrift gives what the Map-based computeDrift gave, on 5,000 random hosts", () => {
  let collisions = 0;
  for (let round = 0; round < 5000; round++) {
    const { registered, host } = randomHost();
    const got = computeDrift(registered, host);
    const want = referenceDrift(registered, host);
    assert.deepEqual(
      plain(got, registered, host),
      plain(want, registered, host),
      `round ${round}: ${JSON.stringify({ registered, host })}`,
    );
    collisions += want.items.filter((d) => d.kind === "vmid-collision").length;
  }
  assert.ok(collisions > 1000, `only ${collisions} collisions were compared`);
});

Deno.test("every canonical stub shares one frozen, empty problems list (no list per VM)", () => {
  const a = parseDeviceArgs(dev(1)).stubs[0];
  const b = parseDeviceArgs(dev(2, "B", "low")).stubs[0];
  assert.deepEqual(a.problems, []);
  assert.equal(a.problems, b.problems);
  assert.ok(Object.isFrozen(a.problems));
  // the general scan still gives each stub with problems its own list
  const bad = parseDeviceArgs("-device vgpu-stub,pool_id=Z,priority=high,vm_id=3").stubs[0];
  assert.deepEqual(bad.problems, ["pool_id=Z is not A or B"]);
});

import assert from "node:assert/strict";
import { computeDrift, DRIFT_KINDS } from "../src/domain/drift.ts";
import type { HostVm, PoolId, Priority, Vm } from "../src/domain/types.ts";

const U = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
const U1 = U(1), U2 = U(2), U3 = U(3), U4 = U(4);

function vm(uuid: string, pool: PoolId, priority: Priority, vmId: number): Vm {
  const at = "2025-01-01T00:00:00Z";
  return {
    vmUuid: uuid,
    vmName: `vm-${uuid.slice(-2)}`,
    pool,
    priority,
    vmId,
    createdAt: at,
    updatedAt: at,
  };
}

function host(uuid: string, args: string | null): HostVm {
  return {
    uuid,
    nameLabel: `host-${uuid.slice(-2)}`,
    powerState: "halted",
    residentOn: null,
    deviceModelArgs: args,
  };
}

const dev = (pool: string, priority: string, vmId: string | number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${priority},vm_id=${vmId}`;

const SYNC = "vgpu-admin sync";
const register = (u: string, freeId?: number) =>
  `vgpu-admin register-vm --vm-uuid=${u}${freeId === undefined ? "" : ` --vm-id=${freeId}`}`;
const adopt = (u: string) => `vgpu-admin adopt --vm-uuid=${u}`;
const removeVm = (u: string) => `vgpu-admin remove-vm --vm-uuid=${u}`;

/** `kind vmUuid [other] | fix`, one per item, in report order. */
type Expected = string[];
const line = (kind: string, uuid: string, fix: string, other?: string) =>
  `${kind} ${uuid}${other ? ` ${other}` : ""} | ${fix}`;

interface Case {
  name: string;
  registered: Vm[];
  host: HostVm[];
  expected: Expected;
}

const cases: Case[] = [
  { name: "nothing at all", registered: [], host: [], expected: [] },
  {
    name: "registered VM in sync",
    registered: [vm(U1, "A", 2, 1)],
    host: [host(U1, `-vga std ${dev("A", "high", 1)} -display none`)],
    expected: [],
  },
  {
    name: "priority=2 equals high, property order is free",
    registered: [vm(U1, "A", 2, 1)],
    host: [host(U1, "-device vgpu-stub,vm_id=1,priority=2,pool_id=A,id=gpu0")],
    expected: [],
  },
  {
    name: "unregistered VM without a vgpu-stub is left alone",
    registered: [],
    host: [
      host(U1, "-vga std -device vgpu-stubby,pool_id=A,priority=high,vm_id=1"),
      host(U2, null),
    ],
    expected: [],
  },
  {
    name: "args missing (key absent, or other args only)",
    registered: [vm(U1, "A", 1, 1), vm(U2, "B", 0, 2)],
    host: [host(U1, null), host(U2, "-vga std")],
    expected: [line("args-missing", U1, SYNC), line("args-missing", U2, SYNC)],
  },
  {
    name: "args different: pool, priority, invalid props",
    registered: [vm(U1, "A", 2, 1), vm(U2, "B", 1, 2), vm(U3, "A", 0, 3)],
    host: [
      host(U1, dev("B", "high", 1)),
      host(U2, dev("B", "low", 2)),
      host(U3, dev("C", "low", 3)),
    ],
    expected: [
      line("args-different", U1, SYNC),
      line("args-different", U2, SYNC),
      line("args-different", U3, SYNC),
    ],
  },
  {
    name: "registered VM carrying a stale vm_id nobody holds",
    registered: [vm(U1, "A", 2, 1)],
    host: [host(U1, dev("A", "high", 9))],
    expected: [line("args-different", U1, SYNC)],
  },
  {
    name: "registered VM carrying another registered VM's vm_id",
    registered: [vm(U1, "A", 2, 1), vm(U2, "A", 2, 2)],
    host: [host(U1, dev("A", "high", 2)), host(U2, dev("A", "high", 2))],
    expected: [line("args-different", U1, SYNC), line("vmid-collision", U1, SYNC, U2)],
  },
  {
    name: "multiple devices on a registered VM",
    registered: [vm(U1, "A", 2, 1)],
    host: [host(U1, `${dev("A", "high", 1)} -vga std ${dev("A", "high", 1)}`)],
    expected: [line("multiple-devices", U1, SYNC)],
  },
  {
    name: "multiple devices on an unregistered VM",
    registered: [],
    host: [host(U1, `${dev("A", "high", 7)} ${dev("B", "low", 8)}`)],
    expected: [
      line("unregistered-device", U1, register(U1)),
      line("multiple-devices", U1, register(U1)),
    ],
  },
  {
    name: "registered VM gone from the host",
    registered: [vm(U1, "A", 2, 1), vm(U2, "B", 0, 2)],
    host: [host(U2, dev("B", "low", 2))],
    expected: [line("vm-gone", U1, removeVm(U1))],
  },
  {
    name: "hand-configured unregistered VM",
    registered: [],
    host: [host(U1, `-vga std ${dev("B", "medium", 5)}`)],
    expected: [line("unregistered-device", U1, adopt(U1))],
  },
  {
    name: "unregistered VM with an invalid vgpu-stub cannot be adopted as is",
    registered: [],
    host: [host(U1, "-device vgpu-stub,pool_id=A,priority=high")],
    expected: [line("unregistered-device", U1, register(U1))],
  },
  {
    name: "clone: identical args, one registered",
    registered: [vm(U1, "A", 2, 1)],
    host: [host(U1, dev("A", "high", 1)), host(U2, dev("A", "high", 1))],
    expected: [
      line("unregistered-device", U2, adopt(U2)),
      line("vmid-collision", U2, register(U2, 2), U1),
    ],
  },
  {
    name: "clone of a VM that is gone: the database row still holds the id",
    registered: [vm(U1, "A", 2, 1)],
    host: [host(U2, dev("A", "high", 1))],
    expected: [
      line("vm-gone", U1, removeVm(U1)),
      line("unregistered-device", U2, adopt(U2)),
      line("vmid-collision", U2, register(U2, 2), U1),
    ],
  },
  {
    name: "clone whose holder's own args are stale",
    registered: [vm(U1, "A", 2, 1)],
    host: [host(U1, null), host(U2, dev("B", "low", 1))],
    expected: [
      line("args-missing", U1, SYNC),
      line("unregistered-device", U2, adopt(U2)),
      line("vmid-collision", U2, register(U2, 2), U1),
    ],
  },
  {
    name: "three VMs share an id, one registered",
    registered: [vm(U1, "A", 2, 1)],
    host: [
      host(U1, dev("A", "high", 1)),
      host(U2, dev("A", "high", 1)),
      host(U3, dev("A", "high", 1)),
    ],
    expected: [
      line("unregistered-device", U2, adopt(U2)),
      line("vmid-collision", U2, register(U2, 2), U1),
      line("unregistered-device", U3, adopt(U3)),
      line("vmid-collision", U3, register(U3, 3), U1),
    ],
  },
  {
    name: "three unregistered VMs share an id",
    registered: [],
    host: [
      host(U1, dev("A", "high", 4)),
      host(U2, dev("B", "low", 4)),
      host(U3, dev("A", "medium", 4)),
      host(U4, dev("A", "medium", 5)),
    ],
    expected: [
      line("unregistered-device", U1, adopt(U1)),
      line("vmid-collision", U1, register(U1, 1), U2),
      line("unregistered-device", U2, adopt(U2)),
      line("vmid-collision", U2, register(U2, 2), U1),
      line("unregistered-device", U3, adopt(U3)),
      line("vmid-collision", U3, register(U3, 3), U1),
      line("unregistered-device", U4, adopt(U4)),
    ],
  },
  {
    name: "an invalid device still collides by its valid vm_id",
    registered: [vm(U1, "A", 2, 1)],
    host: [host(U1, dev("A", "high", 1)), host(U2, dev("C", "high", 1))],
    expected: [
      line("unregistered-device", U2, register(U2)),
      line("vmid-collision", U2, register(U2, 2), U1),
    ],
  },
];

for (const c of cases) {
  Deno.test(`drift: ${c.name}`, () => {
    const report = computeDrift(c.registered, c.host);
    const actual = report.items.map((i) => line(i.kind, i.vmUuid, i.fix, i.otherVmUuid));
    assert.deepEqual(actual, c.expected);
    // Every item's detail is one line and its kind is known.
    for (const i of report.items) {
      assert.ok(DRIFT_KINDS.includes(i.kind));
      assert.ok(i.detail.length > 0 && !/[\r\n]/.test(i.detail), i.detail);
    }
    // One state per registered or host VM, items grouped per VM.
    const uuids = new Set([...c.registered.map((r) => r.vmUuid), ...c.host.map((h) => h.uuid)]);
    assert.equal(report.vms.length, uuids.size);
    assert.deepEqual(report.items, report.vms.flatMap((s) => s.drift));
    for (const s of report.vms) assert.equal(report.byUuid.get(s.vmUuid), s);
  });
}

Deno.test("drift details name what differs and the other VM", () => {
  const r = computeDrift(
    [vm(U1, "A", 2, 1), vm(U2, "B", 1, 2)],
    [host(U1, dev("B", "low", 2)), host(U2, dev("B", "medium", 2)), host(U3, dev("A", "high", 2))],
  );
  const details = r.items.map((i) => `${i.kind}: ${i.detail}`);
  assert.deepEqual(details, [
    "args-different: vgpu-stub differs from the database: pool_id=B (database A), priority=low (database high), vm_id=2 (database 1)",
    `vmid-collision: vm_id 2 belongs to registered VM ${U2} (vm-02)`,
    "unregistered-device: not registered, but carries vgpu-stub pool_id=A,priority=high,vm_id=2",
    `vmid-collision: vm_id 2 belongs to registered VM ${U2} (vm-02)`,
  ]);
  assert.equal(r.items[1].vmId, 2);
  assert.deepEqual(r.byUuid.get(U2)?.applied, { pool: "B", priority: 1, vmId: 2 });
  assert.equal(r.byUuid.get(U2)?.drift.length, 0);
});

Deno.test("drift report is plain data apart from byUuid", () => {
  const r = computeDrift([vm(U1, "A", 2, 1)], [
    host(U1, dev("A", "2", 1)),
    host(U2, dev("A", "high", 1)),
  ]);
  const json = JSON.parse(JSON.stringify({ vms: r.vms, items: r.items }));
  assert.deepEqual(json.items, r.items);
  assert.equal(json.vms[0].parsed.stubs[0].props.priority, "2");
});

Deno.test("drift over 10,000 VMs with clones and collisions", () => {
  const registered: Vm[] = [];
  const hostVms: HostVm[] = [];
  for (let n = 1; n <= 10_000; n++) {
    const u = U(n);
    if (n % 10 !== 0) registered.push(vm(u, n % 2 ? "A" : "B", (n % 3) as Priority, n));
    if (n % 97 === 0) continue; // registered VM gone
    const carried = n % 50 === 0 ? 1 : n; // every 50th carries vm_id 1: a clone
    hostVms.push(host(u, `-vga std ${dev(n % 2 ? "A" : "B", String(n % 3), carried)}`));
  }
  const r = computeDrift(registered, hostVms);
  const all = new Set([...registered.map((v) => v.vmUuid), ...hostVms.map((h) => h.uuid)]);
  assert.equal(r.vms.length, all.size);
  const count = (k: string) => r.items.filter((i) => i.kind === k).length;
  // 103 multiples of 97, 10 of them unregistered; 1000 unregistered, 10 of them absent;
  // 200 multiples of 50 (clones of vm_id 1), 2 of them absent (multiples of 4850).
  assert.equal(count("vm-gone"), 93);
  assert.equal(count("unregistered-device"), 990);
  assert.equal(count("vmid-collision"), 198);
  assert.equal(r.items.length, 93 + 990 + 198);
  for (const i of r.items.filter((i) => i.kind === "vmid-collision")) {
    assert.equal(i.otherVmUuid, U(1));
  }
});

Deno.test("a VM in sync that still gets a collision has a list of its own; the others' stay empty", () => {
  // two rows with one vm_id: the database refuses it (UNIQUE), computeDrift takes any input
  const r = computeDrift(
    [vm(U1, "A", 2, 1), vm(U2, "B", 0, 1), vm(U3, "A", 2, 3)],
    [host(U1, dev("A", "high", 1)), host(U2, dev("B", "low", 1)), host(U3, dev("A", "high", 3))],
  );
  const byUuid = (u: string) => r.byUuid.get(u)!.drift.map((d) => `${d.kind} ${d.otherVmUuid}`);
  assert.deepEqual(byUuid(U1), [`vmid-collision ${U2}`]);
  assert.deepEqual(byUuid(U2), []);
  assert.deepEqual(byUuid(U3), []);
  assert.equal(r.items.length, 1);
  // a later report starts from empty lists again
  assert.deepEqual(computeDrift([vm(U3, "A", 2, 3)], [host(U3, dev("A", "high", 3))]).items, []);
});

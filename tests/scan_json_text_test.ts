// The VM state written straight to text (render/scan-json-text.ts) against the objects it
// replaces: JSON.stringify(scanVmJson(view, s), null, 2), re-indented and jsonSafe'd, for every
// kind of state (each drift kind, collisions, invalid and several devices, no args, names with
// quotes, control, bidi and non-Latin characters, stale starts, another host, the host unread).

import assert from "node:assert/strict";
import { buildDevice } from "../src/domain/device-args.ts";
import { computeDrift } from "../src/domain/drift.ts";
import { jsonSafe } from "../src/domain/printable.ts";
import type { HostVm, Priority, Vm } from "../src/domain/types.ts";
import type { ScanView } from "../src/ops/scan.ts";
import { scanVmJson, vmStates } from "../src/cli/render/scan.ts";
import { vmStateText } from "../src/cli/render/scan-json-text.ts";

const uuid = (i: number) => `7d1e2f00-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
const HERE = "0b1e7c3a-1111-4a5b-8c9d-000000000001";
const NAMES = [
  "plain",
  'quo"te\\back',
  "tab\there",
  "c1\u0085char",
  "bidi\u202eevil",
  "sep\u2028line",
  "日本-café-Ωμέγα",
  "emoji 👩‍💻",
  "",
];

function vm(i: number, o: Partial<Vm> = {}): Vm {
  return {
    vmId: i,
    vmUuid: uuid(i),
    vmName: NAMES[i % NAMES.length] || null,
    pool: i % 2 === 0 ? "A" : "B",
    priority: (i % 3) as Priority,
    createdAt: "2025-01-01 00:00:00",
    updatedAt: i % 5 === 0 ? "2025-02-03 04:05:06" : "2025-01-01 00:00:00",
    ...o,
  };
}

function host(i: number, args: string | null, o: Partial<HostVm> = {}): HostVm {
  return {
    uuid: uuid(i),
    nameLabel: NAMES[(i + 3) % NAMES.length],
    powerState: i % 3 === 0 ? "running" : "halted",
    residentOn: i % 3 === 0 ? (i % 2 === 0 ? HERE : "0b1e7c3a-2222-4a5b-8c9d-000000000002") : null,
    deviceModelArgs: args,
    ...o,
  };
}

function states() {
  const registered: Vm[] = [];
  const hosts: HostVm[] = [];
  for (let i = 1; i <= 60; i++) {
    const r = vm(i);
    registered.push(r);
    const k = i % 10;
    if (k === 9) continue; // vm-gone
    const args = k === 0
      ? buildDevice(r) // in sync
      : k === 1
      ? null // args-missing
      : k === 2
      ? buildDevice({ ...r, priority: ((r.priority + 1) % 3) as Priority }) // args-different
      : k === 3
      ? `${buildDevice(r)} ${buildDevice(r)}` // multiple-devices
      : k === 4
      ? "-device vgpu-stub,pool_id=Z,priority=loud,vm_id=x" // invalid
      : k === 5
      ? buildDevice({ ...r, vmId: i - 4 }) // collides with a registered holder
      : k === 6
      ? `-m 512 "quoted arg" ${buildDevice(r)} -name \u0085x`
      : k === 7
      ? `-device vgpu-stub,pool_id=Z,vm_id=${i}` // invalid, but its vm_id is read
      : buildDevice(r);
    hosts.push(host(i, args));
  }
  // unregistered: plain, one device, a clone of a held id, two carrying the same free id, invalid
  hosts.push(host(101, "-vga std"));
  hosts.push(host(102, buildDevice({ pool: "A", priority: 1, vmId: 500 })));
  hosts.push(host(103, buildDevice({ pool: "B", priority: 2, vmId: 10 })));
  hosts.push(host(104, buildDevice({ pool: "A", priority: 0, vmId: 700 })));
  hosts.push(host(105, buildDevice({ pool: "A", priority: 0, vmId: 700 })));
  hosts.push(host(106, "-device vgpu-stub,pool_id=A"));
  hosts.push(host(107, null));
  return { registered, hosts };
}

function expected(view: ScanView, s: ReturnType<typeof vmStates>[number], indent: string) {
  return jsonSafe(JSON.stringify(scanVmJson(view, s), null, 2).replaceAll("\n", `\n${indent}`));
}

Deno.test("a VM state as text is the JSON of its objects, byte for byte, every kind", () => {
  const { registered, hosts } = states();
  const drift = computeDrift(registered, hosts);
  const staleRuns = new Map([
    [uuid(3), { vmUuid: uuid(3), since: "2025-03-01 10:00:00", reason: "set-pool" }],
  ]);
  const kinds = new Set(drift.items.map((d) => d.kind));
  assert.equal(kinds.size, 6, [...kinds].join(" ")); // every drift kind is among them
  for (const localHost of [HERE, null]) {
    const view: ScanView = {
      registered,
      host: { kind: "read", vms: hosts, hosts: [], localHost, drift, domIds: null },
      staleRuns,
      xeCalls: 1,
    };
    for (const s of vmStates(view)) {
      for (const indent of ["", "    ", "        "]) {
        assert.equal(vmStateText(view, s, indent), expected(view, s, indent), s.vmUuid);
      }
    }
  }
  // the host not read: database-only states
  const unread: ScanView = {
    registered,
    host: { kind: "unreadable", error: "xe vm-list failed" },
    staleRuns,
    xeCalls: 1,
  };
  for (const s of vmStates(unread)) {
    assert.equal(vmStateText(unread, s, "    "), expected(unread, s, "    "));
  }
});

/**
 * The three-way check: /proc parsing (src/ops/qemu-cmdline.ts) against fake /proc trees, and
 * `scan-vms --deep` (a QEMU line per running VM, a `qemu` object in JSON) on the fake host.
 * The default scan stays at two xe calls and its output is unchanged.
 */
import assert from "node:assert/strict";
import { parseDeviceArgs } from "../src/domain/device-args.ts";
import { VgpuError } from "../src/domain/errors.ts";
import { readDeviceModels, sameStubs, splitCmdline, xenDomid } from "../src/ops/qemu-cmdline.ts";
import {
  fakeHost,
  type FakeHostEnv,
  runInProcess,
  tempDir,
  UUID1,
  UUID2,
  UUID3,
  UUID4,
} from "./helpers.ts";
import { type FakeVm, makeHost, makeVm, updateState } from "./fake-xe/state.ts";

const KEY = "device-model-args";
const UUID5 = "55555555-5555-4555-8555-555555555555";
const UUID6 = "66666666-6666-4666-8666-666666666666";
const UUID7 = "77777777-7777-4777-8777-777777777777";
const dev = (pool: string, priority: string, vmId: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${priority},vm_id=${vmId}`;

function writeProc(proc: string, pid: number | string, argv: string[]): void {
  Deno.mkdirSync(`${proc}/${pid}`, { recursive: true });
  Deno.writeTextFileSync(`${proc}/${pid}/cmdline`, argv.map((a) => a + "\0").join(""));
}

function qemuArgv(domid: number, args: string, argv0 = `qemu-dm-${domid}`): string[] {
  return [argv0, "-xen-domid", String(domid), "-nodefaults", ...args.split(" ")];
}

// ---- /proc parsing ---------------------------------------------------------------------------

Deno.test("xenDomid: the integer after -xen-domid or --xen-domid", () => {
  assert.equal(xenDomid(["qemu", "-xen-domid", "5", "-m", "1"]), 5);
  assert.equal(xenDomid(["qemu", "--xen-domid", "12"]), 12);
  assert.equal(xenDomid(["qemu", "-xen-domid"]), null, "no value");
  assert.equal(xenDomid(["qemu", "-xen-domid", "x5"]), null);
  assert.equal(xenDomid(["qemu", "-xen-domid=5"]), null, "QEMU has no = form");
  assert.equal(xenDomid(["-xen-domid", "5"]), null, "argv[0] is the program, not an option");
  assert.equal(xenDomid([]), null);
});

Deno.test("splitCmdline: NUL-separated, trailing NUL dropped, empty for kernel threads", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.deepEqual(splitCmdline(enc("qemu\0-m\x00512\0")), ["qemu", "-m", "512"]);
  assert.deepEqual(splitCmdline(enc("qemu\0-m\x00512")), ["qemu", "-m", "512"]);
  assert.deepEqual(splitCmdline(enc("")), []);
  assert.deepEqual(splitCmdline(enc("a b\0c\0")), ["a b", "c"], "spaces stay inside an arg");
});

Deno.test("readDeviceModels: by domid; a qemu argv[0] wins, then the lowest pid", () => {
  const proc = tempDir("vgpu-proc-");
  writeProc(proc, 1, ["/sbin/init"]);
  writeProc(proc, 2, []);
  writeProc(proc, 300, ["/usr/bin/python", "qemu-wrapper", "-xen-domid", "4"]);
  writeProc(proc, 301, qemuArgv(4, dev("A", "high", 1), "/usr/lib64/xen/bin/qemu-system-i386"));
  writeProc(proc, 500, qemuArgv(6, "-usb"));
  writeProc(proc, 400, qemuArgv(6, "-m 1"));
  Deno.mkdirSync(`${proc}/self`);
  Deno.mkdirSync(`${proc}/777`); // a process that exited between readdir and read
  const found = readDeviceModels(proc);
  assert.deepEqual([...found.keys()].sort(), [4, 6]);
  assert.equal(found.get(4)!.pid, 301);
  assert.equal(found.get(6)!.pid, 400);
  assert.deepEqual(found.get(6)!.argv, qemuArgv(6, "-m 1"));
  assert.throws(() => readDeviceModels(`${proc}/missing`), VgpuError);
});

Deno.test("sameStubs compares parsed properties, never strings", () => {
  const stubs = (s: string) => parseDeviceArgs(s).stubs;
  assert.ok(
    sameStubs(
      stubs(dev("A", "high", 1)),
      stubs("-m 1 -device vgpu-stub,vm_id=1,priority=2,pool_id=A"),
    ),
  );
  assert.ok(!sameStubs(stubs(dev("A", "high", 1)), stubs(dev("A", "low", 1))));
  assert.ok(!sameStubs(stubs(dev("A", "high", 1)), stubs("")));
  assert.ok(sameStubs(stubs(""), stubs("-usb")));
  assert.ok(
    sameStubs(stubs("-device vgpu-stub,pool_id=C"), stubs("-device vgpu-stub,pool_id=C")),
    "invalid devices compare by their properties",
  );
  assert.ok(!sameStubs(stubs("-device vgpu-stub,pool_id=C"), stubs("-device vgpu-stub,pool_id=D")));
});

// ---- scan-vms --deep -------------------------------------------------------------------------

interface Host extends FakeHostEnv {
  proc: string;
  run(argv: string[], env?: Record<string, string>): ReturnType<typeof runInProcess>;
}

function vm(uuid: string, name: string, args: string | null, o: Partial<FakeVm> = {}): FakeVm {
  const platform: Record<string, string> = {};
  if (args !== null) platform[KEY] = args;
  return makeVm({ uuid, nameLabel: name, platform, ...o });
}

/**
 * web: QEMU matches; db: xapi has the new args, QEMU the old (restart); batch: no QEMU process;
 * idle: halted; hand: unregistered, QEMU matches; lagging: xapi drifted after the start, QEMU
 * still matches the database; stale: xapi and QEMU agree, the database moved on.
 */
async function deepHost(): Promise<Host> {
  const h = fakeHost([
    vm(UUID1, "web", `-m 1024 ${dev("A", "high", 1)}`, { powerState: "running", domid: 5 }),
    vm(UUID2, "db", dev("B", "low", 2), { powerState: "running", domid: 6 }),
    vm(UUID3, "batch", dev("B", "medium", 3), { powerState: "running", domid: 7 }),
    vm(UUID4, "idle", dev("A", "low", 4)),
    vm(UUID5, "hand", dev("B", "high", 20), { powerState: "running", domid: 8 }),
    vm(UUID6, "lagging", dev("A", "low", 6), { powerState: "running", domid: 9 }),
    vm(UUID7, "stale", dev("A", "low", 7), { powerState: "running", domid: 10 }),
  ]);
  const proc = `${h.dir}/proc`;
  writeProc(proc, 1, ["/sbin/init"]);
  writeProc(proc, 4001, qemuArgv(5, `-m 1024 ${dev("A", "high", 1)}`));
  writeProc(proc, 4002, qemuArgv(6, dev("A", "low", 2)));
  writeProc(proc, 4005, qemuArgv(8, dev("B", "high", 20)));
  writeProc(proc, 4006, qemuArgv(9, dev("A", "medium", 6)));
  writeProc(proc, 4007, qemuArgv(10, dev("A", "low", 7)));
  const host: Host = {
    ...h,
    proc,
    run: (argv, env = {}) =>
      runInProcess(argv, { env: { ...h.env, VGPU_PROC_ROOT: proc, ...env } }),
  };
  for (
    const flags of [
      [UUID1, "A", "high", 1, "web"],
      [UUID2, "B", "low", 2, "db"],
      [UUID3, "B", "medium", 3, "batch"],
      [UUID4, "A", "low", 4, "idle"],
      [UUID6, "A", "medium", 6, "lagging"],
      [UUID7, "B", "low", 7, "stale"],
    ] as const
  ) {
    const r = await host.run([
      "register-vm",
      `--vm-uuid=${flags[0]}`,
      `--pool=${flags[1]}`,
      `--priority=${flags[2]}`,
      `--vm-id=${flags[3]}`,
      `--vm-name=${flags[4]}`,
      "--offline",
    ]);
    assert.equal(r.code, 0, r.stderr);
  }
  return host;
}

Deno.test("scan-vms --deep: a QEMU line per running VM, against xapi and the database", async () => {
  const h = await deepHost();
  const r = await h.run(["scan-vms", "--deep"]);
  assert.equal(r.stderr, "");
  assert.equal(r.code, 0);
  assert.equal(
    r.stdout,
    [
      "=== Pool A: 3 VMs ===",
      `UUID: ${UUID1} | Name: web | Pool: A | Priority: high (2) | VM ID: 1 | ✓ Configured`,
      `    Power: running | Args: ${dev("A", "high", 1)}`,
      `    Device-model-args: -m 1024 ${dev("A", "high", 1)}`,
      `    QEMU: ${dev("A", "high", 1)} ✓ matches xapi`,
      `UUID: ${UUID4} | Name: idle | Pool: A | Priority: low (0) | VM ID: 4 | ✓ Configured`,
      `    Power: halted | Args: ${dev("A", "low", 4)}`,
      `    Device-model-args: ${dev("A", "low", 4)}`,
      `UUID: ${UUID6} | Name: lagging | Pool: A | Priority: medium (1) | VM ID: 6 | ⚠ Drift`,
      `    Power: running | Args: ${dev("A", "low", 6)}`,
      `    Device-model-args: ${dev("A", "low", 6)}`,
      `    QEMU: ${
        dev("A", "medium", 6)
      } ⚠ matches the database, but xapi differs: vgpu-admin sync (no restart)`,
      "    ⚠ vgpu-stub differs from the database: priority=low (database medium) -> fix: vgpu-admin sync",
      "",
      "=== Pool B: 3 VMs ===",
      `UUID: ${UUID2} | Name: db | Pool: B | Priority: low (0) | VM ID: 2 | ✓ Configured`,
      `    Power: running | Args: ${dev("B", "low", 2)}`,
      `    Device-model-args: ${dev("B", "low", 2)}`,
      `    QEMU: ${dev("A", "low", 2)} ⚠ differs from xapi: restart the VM to apply`,
      `UUID: ${UUID3} | Name: batch | Pool: B | Priority: medium (1) | VM ID: 3 | ✓ Configured`,
      `    Power: running | Args: ${dev("B", "medium", 3)}`,
      `    Device-model-args: ${dev("B", "medium", 3)}`,
      `    QEMU: ⚠ no process with -xen-domid 7 in ${h.proc}`,
      `UUID: ${UUID7} | Name: stale | Pool: B | Priority: low (0) | VM ID: 7 | ⚠ Drift`,
      `    Power: running | Args: ${dev("A", "low", 7)}`,
      `    Device-model-args: ${dev("A", "low", 7)}`,
      `    QEMU: ${
        dev("A", "low", 7)
      } ⚠ matches xapi, but not the database: vgpu-admin sync, then restart the VM`,
      "    ⚠ vgpu-stub differs from the database: pool_id=A (database B) -> fix: vgpu-admin sync",
      "",
      "=== Unregistered VMs: 1 ===",
      `UUID: ${UUID5} | Name: hand | Status: ⚠ Not registered | Action: Run 'vgpu-admin adopt --vm-uuid=${UUID5}'`,
      `    Power: running | Args: ${dev("B", "high", 20)}`,
      `    Device-model-args: ${dev("B", "high", 20)}`,
      `    QEMU: ${dev("B", "high", 20)} ✓ matches xapi`,
      "",
      // the two QEMU lines that say "restart" are counted in the summary (issue 11 point 7)
      "⚠ Drift: 2 problems on 2 VMs (each line above gives its fix; 'vgpu-admin sync' repairs them). 2 VMs running with stale vGPU args (restart each to apply). 1 unregistered VM carries a vgpu-stub device ('vgpu-admin adopt' registers it).",
      "",
    ].join("\n"),
  );
});

Deno.test("scan-vms --deep --format=json: a qemu object per VM, the dom-ids in the same vm-list", async () => {
  const h = await deepHost();
  const r = await h.run(["scan-vms", "--deep", "--format=json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  // no host-list: the inventory names this host and every VM runs here (src/ops/scan.ts)
  assert.equal(j.host.xe_calls, 1, "one vm-list, with the dom-ids");
  assert.deepEqual(j.qemu, { proc_root: h.proc, error: null });
  const byUuid = new Map<string, Record<string, unknown>>();
  for (const p of j.pools) for (const v of p.vms) byUuid.set(v.vm_uuid, v);
  for (const v of j.unregistered) byUuid.set(v.vm_uuid, v);
  assert.deepEqual(byUuid.get(UUID2)!.qemu, {
    status: "differs",
    dom_id: 6,
    pid: 4002,
    devices: [{
      raw: dev("A", "low", 2),
      pool_id: "A",
      priority: "low",
      vm_id: 2,
      problems: [],
    }],
    matches_xapi: false,
    matches_database: false,
    detail: "differs from xapi",
    fix: "restart the VM to apply",
  });
  assert.deepEqual(
    [UUID1, UUID3, UUID4, UUID5, UUID6, UUID7].map((u) => {
      const q = byUuid.get(u)!.qemu as Record<string, unknown> | null;
      return q === null ? null : [q.status, q.matches_xapi, q.matches_database];
    }),
    [
      ["matches", true, true],
      ["not-found", null, null],
      null, // halted: nothing to compare
      ["matches", true, null], // unregistered: xapi only
      ["differs", false, true],
      ["differs", true, false],
    ],
  );
});

Deno.test("scan-vms without --deep: one xe call, no qemu key, no QEMU line", async () => {
  const h = await deepHost();
  const r = await h.run(["scan-vms", "--format=json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.host.xe_calls, 1);
  assert.equal("qemu" in j, false);
  assert.equal("qemu" in j.pools[0].vms[0], false);
  const t = await h.run(["scan-vms"]);
  assert.doesNotMatch(t.stdout, /QEMU:/);
});

Deno.test("scan-vms --deep: /proc unreadable -> warning, exit 1, the scan still printed", async () => {
  const h = await deepHost();
  const r = await h.run(["scan-vms", "--deep"], { VGPU_PROC_ROOT: `${h.proc}/missing` });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /=== Pool A: 3 VMs ===/);
  assert.doesNotMatch(r.stdout, /QEMU:/);
  assert.match(
    r.stderr,
    /^warning: the QEMU command lines could not be compared: cannot read .*\/missing: .*; unset VGPU_PROC_ROOT, or point it at a readable \/proc tree\n$/,
  );
  const j = await h.run(["scan-vms", "--deep", "--format=json"], {
    VGPU_PROC_ROOT: `${h.proc}/missing`,
  });
  assert.match(JSON.parse(j.stdout).qemu.error, /cannot read/);
});

Deno.test("scan-vms --deep: xe failing -> only the host warning, no QEMU check", async () => {
  const h = await deepHost();
  await updateState(h.statePath, (st) => {
    st.faults = { "vm-list": { mode: "fail", stderr: "Error: down\n" } };
  });
  const r = await h.run(["scan-vms", "--deep"]);
  assert.equal(r.code, 1);
  assert.doesNotMatch(r.stdout, /QEMU:/);
  assert.equal(
    r.stderr,
    "warning: the host could not be read, only the database is shown: xe vm-list failed: Error: down\n",
  );
});

Deno.test("scan-vms --deep: a VM on another host is not checked", async () => {
  const h = await deepHost();
  const other = makeHost({ uuid: "0b1e7c3a-1111-4a5b-8c9d-000000000002", nameLabel: "h2" });
  await updateState(h.statePath, (st) => {
    st.hosts.push(other);
    st.vms.find((v) => v.uuid === UUID3)!.residentOn = other.uuid;
  });
  const r = await h.run(["scan-vms", "--deep"]);
  assert.match(
    r.stdout,
    new RegExp(
      `    Power: running on another host \\(h2\\) \\| Args: ${dev("B", "medium", 3)}\n` +
        `    Device-model-args: ${dev("B", "medium", 3)}\n` +
        "    QEMU: not checked \\(runs on another host\\)\n",
    ),
  );
});

/**
 * Commands that read or write the host, in-process against the fake xe host: register-vm,
 * remove-vm, scan-vms, status, sync, adopt. Each asserts the exit code, the message, the VM's
 * platform args in the fake's state and the database row.
 */
import assert from "node:assert/strict";
import {
  fakeHost,
  type FakeHostEnv,
  fileHash,
  platformOf,
  runInProcess,
  UUID1,
  UUID2,
  UUID3,
  UUID4,
} from "./helpers.ts";
import {
  DEFAULT_HOST_UUID,
  type FakeState,
  type FakeVm,
  makeHost,
  makeVm,
  readCallLog,
  readStateSync,
  updateState,
} from "./fake-xe/state.ts";

const KEY = "device-model-args";
const UUID5 = "55555555-5555-4555-8555-555555555555";
const UUID6 = "66666666-6666-4666-8666-666666666666";
const UUID7 = "77777777-7777-4777-8777-777777777777";
const UUID8 = "88888888-8888-4888-8888-888888888888";
const UUID9 = "99999999-9999-4999-8999-999999999999";
const HOST2 = "0b1e7c3a-1111-4a5b-8c9d-000000000002";
const dev = (pool: string, priority: string, vmId: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${priority},vm_id=${vmId}`;

type Run = Awaited<ReturnType<typeof runInProcess>>;

interface Host extends FakeHostEnv {
  run(argv: string[], o?: Parameters<typeof runInProcess>[1]): Promise<Run>;
  /** register-vm --offline with the given flags (no xe call). */
  reg(uuid: string, ...flags: string[]): Promise<void>;
}

function host(vms: FakeVm[], patch: Partial<FakeState> = {}): Host {
  const env = fakeHost(vms, patch);
  const h: Host = {
    ...env,
    run: (argv, o = {}) => runInProcess(argv, { ...o, env: { ...env.env, ...o.env } }),
    async reg(uuid, ...flags) {
      const r = await h.run(["register-vm", `--vm-uuid=${uuid}`, "--offline", ...flags]);
      assert.equal(r.code, 0, r.stderr);
    },
  };
  return h;
}

function vm(uuid: string, name: string, args?: string, o: Partial<FakeVm> = {}): FakeVm {
  const platform: Record<string, string> = { viridian: "true" };
  if (args !== undefined) platform[KEY] = args;
  return makeVm({ uuid, nameLabel: name, platform, ...o });
}

function clearCalls(h: FakeHostEnv): void {
  Deno.writeTextFileSync(readStateSync(h.statePath).callLog!, "");
}

function verbs(h: FakeHostEnv): string[] {
  return readCallLog(readStateSync(h.statePath)).map((c) => c.argv[0]);
}

function writeVerbs(h: FakeHostEnv): string[] {
  return verbs(h).filter((v) => !["vm-list", "vm-param-get", "host-list"].includes(v));
}

/** The database row (show-vm --offline --format=json), or null when not registered. */
async function row(h: Host, uuid: string): Promise<Record<string, unknown> | null> {
  const r = await h.run(["show-vm", `--vm-uuid=${uuid}`, "--offline", "--format=json"]);
  if (r.code !== 0) {
    assert.match(r.stderr, /is not registered/);
    return null;
  }
  const reg = JSON.parse(r.stdout).vm.registered;
  return { pool_id: reg.pool_id, priority: reg.priority, vm_id: reg.vm_id, vm_name: reg.vm_name };
}

async function historyLen(h: Host): Promise<number> {
  const r = await h.run(["history", "--format=json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).history.length;
}

// ---- register-vm ----------------------------------------------------------------------------

Deno.test("register-vm: the VM must exist on the host", async () => {
  const h = host([vm(UUID1, "web")]);
  const r = await h.run(["register-vm", `--vm-uuid=${UUID2}`, "--pool=B"]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `error: VM ${UUID2} does not exist on this host (xe vm-list); check the uuid, or pass --offline to change the database only\n`,
  );
  assert.equal(await row(h, UUID2), null);
  assert.deepEqual(writeVerbs(h), []);
});

Deno.test("register-vm: args that are not QEMU options are refused before anything is written", async () => {
  const h = host([vm(UUID1, "web", "-name web\x07 -m 1024")]);
  const r = await h.run(["register-vm", `--vm-uuid=${UUID1}`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not QEMU options \(it holds control characters\); nothing was written/);
  assert.equal(await row(h, UUID1), null, "the refusal left the VM registered");
  assert.deepEqual(writeVerbs(h), []);
  assert.equal(platformOf(h, UUID1)[KEY], "-name web\x07 -m 1024");
});

Deno.test("register-vm: args written at once, merged with hand-set args; defaults", async () => {
  const h = host([
    vm(UUID1, "web", "-m 1024 -display none"),
    vm(UUID2, "db", "-usb"),
  ]);
  const r = await h.run([
    "register-vm",
    `--vm-uuid=${UUID1}`,
    "--pool=b",
    "--priority=HIGH",
    "--vm-id=8",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const args1 = `-m 1024 -display none ${dev("B", "high", 8)}`;
  assert.equal(
    r.stdout,
    `Registered VM ${UUID1} (web): vGPU pool B, priority high, VM ID 8\nWrote platform args: ${args1}\n`,
  );
  assert.deepEqual(platformOf(h, UUID1), { viridian: "true", [KEY]: args1 });
  assert.deepEqual(await row(h, UUID1), {
    pool_id: "B",
    priority: "high",
    vm_id: 8,
    vm_name: "web",
  });
  // defaults: vGPU pool A, medium, the lowest unused vm_id; name from the name-label
  const d = await h.run(["register-vm", `--vm-uuid=${UUID2.toUpperCase()}`]);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(platformOf(h, UUID2)[KEY], `-usb ${dev("A", "medium", 1)}`);
  assert.deepEqual(await row(h, UUID2), {
    pool_id: "A",
    priority: "medium",
    vm_id: 1,
    vm_name: "db",
  });
  assert.equal(await historyLen(h), 2);
  assert.deepEqual(writeVerbs(h), ["vm-param-set", "vm-param-set"]);
});

Deno.test("register-vm: a running VM gets its args at the next start (said, and marked stale)", async () => {
  const h = host([vm(UUID1, "web", undefined, { powerState: "running" })]);
  const r = await h.run(["register-vm", `--vm-uuid=${UUID1}`, "--vm-id=3"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /\nThe VM is running: it gets these args at its next start \(restart it to apply\)\.\n$/,
  );
  assert.equal(platformOf(h, UUID1)[KEY], dev("A", "medium", 3));
  const s = await h.run(["scan-vms"]);
  assert.match(
    s.stdout,
    /running with stale vGPU args since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}: restart to apply/,
  );
  // the summaries under such a line never say all is well (issue 11 point 7)
  const st = await h.run(["status"]);
  for (const out of [s.stdout, st.stdout]) {
    assert.doesNotMatch(out, /✓ Database and VM args agree/);
    assert.match(
      out,
      /\n⚠ 1 VM running with stale vGPU args \(restart each to apply\); the database and VM args agree\.\n/,
    );
  }
});

Deno.test("register-vm: a hand-set vgpu-stub gives the defaults; each flag that changes one is named", async () => {
  const old = "-device vgpu-stub,pool_id=B,priority=low,vm_id=40";
  const h = host([vm(UUID1, "web", `-m 512 ${old} -display none`)]);
  const r = await h.run(["register-vm", `--vm-uuid=${UUID1}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      `Registered VM ${UUID1} (web): vGPU pool B, priority low, VM ID 40`,
      `Kept the values of the vgpu-stub the VM carried: ${dev("B", "low", 40)}`,
      `The VM already carries ${dev("B", "low", 40)}`,
    ].join("\n") + "\n",
  );
  assert.equal(platformOf(h, UUID1)[KEY], `-m 512 ${old} -display none`, "nothing to write");
  assert.deepEqual(await row(h, UUID1), {
    pool_id: "B",
    priority: "low",
    vm_id: 40,
    vm_name: "web",
  });
});

Deno.test("register-vm: flags override the carried values, and the output names each change", async () => {
  const old = dev("A", "low", 3);
  const h = host([vm(UUID1, "web", `-m 512 ${old} -display none`)]);
  const r = await h.run(["register-vm", `--vm-uuid=${UUID1}`, "--pool=B", "--vm-id=4"]);
  assert.equal(r.code, 0, r.stderr);
  const next = `-m 512 ${dev("B", "low", 4)} -display none`;
  assert.equal(
    r.stdout,
    [
      `Registered VM ${UUID1} (web): vGPU pool B, priority low, VM ID 4`,
      `Changed on the VM: vGPU pool A -> B, VM ID 3 -> 4 (it carried ${old})`,
      `Wrote platform args: ${next}`,
    ].join("\n") + "\n",
  );
  assert.equal(platformOf(h, UUID1)[KEY], next);
});

Deno.test("register-vm: a carried vm_id held by another registered VM is an error naming it", async () => {
  const h = host([
    vm(UUID1, "web", dev("A", "high", 40)),
    vm(UUID2, "hand", `-usb ${dev("B", "low", 40)}`),
  ]);
  assert.equal((await h.run(["register-vm", `--vm-uuid=${UUID1}`])).code, 0);
  const before = await fileHash(h.statePath);
  const r = await h.run(["register-vm", `--vm-uuid=${UUID2}`]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `error: VM ID 40 already in use by VM ${UUID1} (web), the vm_id this VM's args carry; pass --vm-id=1 (the next free vm_id) to choose another\n`,
  );
  assert.equal(await fileHash(h.statePath), before);
  assert.equal(await row(h, UUID2), null);
  const ok = await h.run(["register-vm", `--vm-uuid=${UUID2}`, "--vm-id=41"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /Changed on the VM: VM ID 40 -> 41/);
});

Deno.test("register-vm, then every rewrite keeps the device's own extra properties (id=gpu0)", async () => {
  const h = host([
    vm(UUID1, "web", "-m 512 -device vgpu-stub,id=gpu0,pool_id=A,priority=low,vm_id=7 -usb"),
  ]);
  assert.equal((await h.run(["register-vm", `--vm-uuid=${UUID1}`, "--priority=high"])).code, 0);
  assert.equal(
    platformOf(h, UUID1)[KEY],
    "-m 512 -device vgpu-stub,pool_id=A,priority=high,vm_id=7,id=gpu0 -usb",
  );
  const r = await h.run(["set-pool", `--vm-uuid=${UUID1}`, "--pool=B", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    platformOf(h, UUID1)[KEY],
    "-m 512 -device vgpu-stub,pool_id=B,priority=high,vm_id=7,id=gpu0 -usb",
  );
  // a hand edit of our values is drift; sync repairs it and keeps id=gpu0
  await updateState(h.statePath, (st) => {
    st.vms.find((v) => v.uuid === UUID1)!.platform[KEY] =
      "-m 512 -device vgpu-stub,id=gpu0,pool_id=A,priority=low,vm_id=9 -usb";
  });
  assert.equal((await h.run(["sync"])).code, 0);
  assert.equal(
    platformOf(h, UUID1)[KEY],
    "-m 512 -device vgpu-stub,pool_id=B,priority=high,vm_id=7,id=gpu0 -usb",
  );
});

Deno.test("register-vm --offline writes nothing to the host", async () => {
  const h = host([vm(UUID1, "web", "-m 512")]);
  const before = await fileHash(h.statePath);
  const r = await h.run(["register-vm", `--vm-uuid=${UUID1}`, "--vm-name=web", "--offline"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Not written to the VM \(--offline\): run 'vgpu-admin sync'/);
  assert.deepEqual(verbs(h), [], "no xe call at all");
  assert.equal(await fileHash(h.statePath), before);
  assert.deepEqual(await row(h, UUID1), {
    pool_id: "A",
    priority: "medium",
    vm_id: 1,
    vm_name: "web",
  });
});

Deno.test("register-vm: an xe failure writing the args leaves no row and no history", async () => {
  const h = host([vm(UUID1, "web", "-m 512")], {
    faults: {
      "vm-param-set": {
        mode: "fail",
        stderr: "Another operation involving the object is currently in progress\n",
      },
    },
  });
  const r = await h.run(["register-vm", `--vm-uuid=${UUID1}`, "--pool=B"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(`^error: could not write the vGPU args of VM ${UUID1}, so it was not registered: `),
  );
  assert.match(r.stderr, /Another operation involving the object is currently in progress/);
  assert.equal(r.stdout, "");
  assert.equal(await row(h, UUID1), null);
  assert.equal(await historyLen(h), 0);
  assert.equal(platformOf(h, UUID1)[KEY], "-m 512");
});

// ---- remove-vm ------------------------------------------------------------------------------

Deno.test("remove-vm: only our device is removed, other args kept in order", async () => {
  const h = host([vm(UUID1, "web", `-m 512 ${dev("A", "high", 1)} -display none`)]);
  await h.reg(UUID1, "--vm-name=web", "--priority=high");
  const r = await h.run(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    `Removed VM ${UUID1} (web) from the database.\nRemoved its vgpu-stub device; its args are now: -m 512 -display none\n`,
  );
  assert.deepEqual(platformOf(h, UUID1), { viridian: "true", [KEY]: "-m 512 -display none" });
  assert.equal(await row(h, UUID1), null);
});

Deno.test("remove-vm: the key goes when nothing else remains", async () => {
  const h = host([vm(UUID1, "web", dev("A", "medium", 1))]);
  await h.reg(UUID1, "--vm-name=web");
  const r = await h.run(["remove-vm", `--vm-uuid=${UUID1}`], { input: ["y"] });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /nothing else was left, so the platform key was removed\.\n$/);
  assert.deepEqual(platformOf(h, UUID1), { viridian: "true" });
  assert.deepEqual(writeVerbs(h), ["vm-param-remove"]);
});

Deno.test("remove-vm: a running VM keeps its device until its next start (said)", async () => {
  const h = host([vm(UUID1, "web", `-m 512 ${dev("A", "medium", 1)}`, { powerState: "running" })]);
  await h.reg(UUID1, "--vm-name=web");
  const r = await h.run(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /The VM is running and keeps its vGPU device until its next start\.\n$/);
  assert.equal(platformOf(h, UUID1)[KEY], "-m 512");
});

Deno.test("remove-vm: VM gone from the host -> the row alone is removed, and said", async () => {
  const h = host([]);
  await h.reg(UUID3, "--vm-name=old");
  const r = await h.run(["remove-vm", `--vm-uuid=${UUID3}`, "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    `Removed VM ${UUID3} (old) from the database.\nThe host has no VM with this uuid: only the database row was removed.\n`,
  );
  assert.equal(await row(h, UUID3), null);
  assert.deepEqual(writeVerbs(h), []);
});

Deno.test("remove-vm: an xe failure keeps the row; 'no' cancels", async () => {
  const args = `-m 512 ${dev("A", "medium", 1)}`;
  const h = host([vm(UUID1, "web", args)]);
  await h.reg(UUID1, "--vm-name=web");
  const no = await h.run(["remove-vm", `--vm-uuid=${UUID1}`], { input: ["no"] });
  assert.equal(no.code, 1);
  assert.match(no.stderr, /Cancelled; nothing changed\.\n$/);
  assert.deepEqual(verbs(h), []);

  await updateState(h.statePath, (s) => {
    s.faults = { "vm-param-set": { mode: "fail", stderr: "Error: something broke\n" } };
  });
  const before = await historyLen(h);
  const r = await h.run(["remove-vm", `--vm-uuid=${UUID1}`, "--yes"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(
      `error: could not remove the vgpu-stub device from VM ${UUID1}, so it stays registered`,
    ),
  );
  assert.deepEqual(await row(h, UUID1), {
    pool_id: "A",
    priority: "medium",
    vm_id: 1,
    vm_name: "web",
  });
  assert.equal(await historyLen(h), before);
  assert.equal(platformOf(h, UUID1)[KEY], args);
});

// ---- scan-vms -------------------------------------------------------------------------------

/** Every kind of drift on one host (two XCP-ng hosts in the pool). */
async function driftHost(): Promise<Host> {
  const h = host([
    vm(UUID1, "web", dev("A", "high", 1), { powerState: "running" }),
    vm(UUID2, "db"), // args missing
    vm(UUID3, "batch", dev("A", "low", 3)), // args different (database: B)
    vm(UUID4, "multi", `${dev("B", "low", 4)} ${dev("B", "low", 4)}`), // two devices
    vm(UUID6, "hand", dev("B", "medium", 20)), // unregistered, hand-configured
    vm(UUID7, "web-clone", dev("A", "high", 1)), // a clone of web: vm_id collision
    vm(UUID8, "remote", dev("B", "medium", 8), { powerState: "running", residentOn: HOST2 }),
    vm(UUID9, "plain"), // unregistered, no device
  ], {
    hosts: [
      makeHost({ uuid: DEFAULT_HOST_UUID, nameLabel: "xcp-host", hostname: "xcp-host" }),
      makeHost({ uuid: HOST2, nameLabel: "xcp-host-2", hostname: "xcp-host-2" }),
    ],
  });
  await h.reg(UUID1, "--vm-name=web", "--pool=A", "--priority=high", "--vm-id=1");
  await h.reg(UUID2, "--vm-name=db", "--pool=A", "--priority=low", "--vm-id=2");
  await h.reg(UUID3, "--vm-name=batch", "--pool=B", "--priority=low", "--vm-id=3");
  await h.reg(UUID4, "--vm-name=multi", "--pool=B", "--priority=low", "--vm-id=4");
  await h.reg(UUID5, "--vm-name=gone", "--pool=B", "--priority=high", "--vm-id=5");
  await h.reg(UUID8, "--vm-name=remote", "--pool=B", "--priority=medium", "--vm-id=8");
  return h;
}

Deno.test("scan-vms: Pool A, Pool B, then unregistered; every drift kind with its fix", async () => {
  const h = await driftHost();
  const before = await fileHash(h.statePath);
  const r = await h.run(["scan-vms"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.equal(
    r.stdout,
    `=== Pool A: 2 VMs ===
UUID: ${UUID1} | Name: web | Pool: A | Priority: high (2) | VM ID: 1 | ✓ Configured
    Power: running | Args: ${dev("A", "high", 1)}
    Device-model-args: ${dev("A", "high", 1)}
UUID: ${UUID2} | Name: db | Pool: A | Priority: low (0) | VM ID: 2 | ⚠ Drift
    Power: halted | Args: (no vgpu-stub device)
    Device-model-args: (none)
    ⚠ no vgpu-stub device in its QEMU args (database: pool_id=A,priority=low,vm_id=2) -> fix: vgpu-admin sync

=== Pool B: 4 VMs ===
UUID: ${UUID3} | Name: batch | Pool: B | Priority: low (0) | VM ID: 3 | ⚠ Drift
    Power: halted | Args: ${dev("A", "low", 3)}
    Device-model-args: ${dev("A", "low", 3)}
    ⚠ vgpu-stub differs from the database: pool_id=A (database B) -> fix: vgpu-admin sync
UUID: ${UUID4} | Name: multi | Pool: B | Priority: low (0) | VM ID: 4 | ⚠ Drift
    Power: halted | Args: ${dev("B", "low", 4)}  ${dev("B", "low", 4)}
    Device-model-args: ${dev("B", "low", 4)} ${dev("B", "low", 4)}
    ⚠ 2 vgpu-stub devices in its QEMU args (one expected) -> fix: vgpu-admin sync
UUID: ${UUID5} | Name: gone | Pool: B | Priority: high (2) | VM ID: 5 | ✗ Not on host
    ⚠ registered, but xe does not list this VM -> fix: vgpu-admin remove-vm --vm-uuid=${UUID5}
UUID: ${UUID8} | Name: remote | Pool: B | Priority: medium (1) | VM ID: 8 | ✓ Configured
    Power: running on another host (xcp-host-2) | Args: ${dev("B", "medium", 8)}
    Device-model-args: ${dev("B", "medium", 8)}

=== Unregistered VMs: 3 ===
UUID: ${UUID6} | Name: hand | Status: ⚠ Not registered | Action: Run 'vgpu-admin adopt --vm-uuid=${UUID6}'
    Power: halted | Args: ${dev("B", "medium", 20)}
    Device-model-args: ${dev("B", "medium", 20)}
UUID: ${UUID7} | Name: web-clone | Status: ⚠ Not registered | Action: Run 'vgpu-admin register-vm --vm-uuid=${UUID7} --vm-id=6'
    Power: halted | Args: ${dev("A", "high", 1)}
    Device-model-args: ${dev("A", "high", 1)}
    ⚠ vm_id 1 belongs to registered VM ${UUID1} (web) -> fix: vgpu-admin register-vm --vm-uuid=${UUID7} --vm-id=6
UUID: ${UUID9} | Name: plain | Status: ⚠ Not registered | Action: Run 'vgpu-admin register-vm'
    Device-model-args: (none)

⚠ Drift: 5 problems on 5 VMs (each line above gives its fix; 'vgpu-admin sync' repairs 3 of them). 2 unregistered VMs carry a vgpu-stub device ('vgpu-admin adopt' registers 1 of them; each line above gives the others' fix).
`,
  );
  assert.equal(await fileHash(h.statePath), before, "a scan writes nothing");
  assert.deepEqual(verbs(h).sort(), ["host-list", "vm-list"]);
});

Deno.test("scan-vms shows each VM's whole device-model-args, hand-set args included (REQUIREMENT 7)", async () => {
  const h = host([
    vm(UUID1, "web", `-vga std ${dev("A", "high", 1)} -smp 4`, { powerState: "running" }),
    vm(UUID6, "hand-only", "-vga std -usb"),
    vm(UUID9, "plain"),
  ]);
  await h.reg(UUID1, "--vm-name=web", "--pool=A", "--priority=high", "--vm-id=1");
  const r = await h.run(["scan-vms"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  const after = (prefix: string) => lines.slice(lines.findIndex((l) => l.startsWith(prefix)) + 1);
  // The seed's lines stay as they are; the whole value follows on a line of its own.
  assert.deepEqual(after(`UUID: ${UUID1}`).slice(0, 2), [
    `    Power: running | Args: ${dev("A", "high", 1)}`,
    `    Device-model-args: -vga std ${dev("A", "high", 1)} -smp 4`,
  ]);
  assert.equal(after(`UUID: ${UUID6}`)[0], "    Device-model-args: -vga std -usb");
  assert.equal(after(`UUID: ${UUID9}`)[0], "    Device-model-args: (none)");
});

Deno.test("scan-vms --format=json: one documented shape", async () => {
  const h = await driftHost();
  const r = await h.run(["scan-vms", "--format=json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(j), ["schema_version", "host", "pools", "unregistered", "drift"]);
  assert.equal(j.schema_version, 1);
  assert.deepEqual(j.host, {
    available: true,
    error: null,
    local_host: DEFAULT_HOST_UUID,
    xe_calls: 2,
  });
  assert.deepEqual(
    j.pools.map((p: { pool_id: string; vms: { vm_uuid: string }[] }) => [
      p.pool_id,
      p.vms.map((v) => v.vm_uuid),
    ]),
    [["A", [UUID1, UUID2]], ["B", [UUID3, UUID4, UUID5, UUID8]]],
  );
  type JsonVm = {
    vm_uuid: string;
    status: string;
    registered: Record<string, unknown>;
    host: Record<string, unknown>;
  };
  const all: JsonVm[] = [...j.pools.flatMap((p: { vms: JsonVm[] }) => p.vms), ...j.unregistered];
  const byUuid = new Map(all.map((v) => [v.vm_uuid, v]));
  const status = (u: string) => byUuid.get(u)!.status;
  assert.deepEqual(
    [UUID1, UUID2, UUID5, UUID6].map(status),
    ["configured", "drift", "not-on-host", "not-registered"],
  );
  const web = byUuid.get(UUID1)!;
  assert.deepEqual(Object.keys(web), [
    "vm_uuid",
    "status",
    "registered",
    "host",
    "drift",
    "stale_since",
  ]);
  assert.equal(web.registered.device, dev("A", "high", 1));
  assert.equal(web.host.on_this_host, true);
  const remote = byUuid.get(UUID8)!;
  assert.equal(remote.host.on_this_host, false);
  assert.equal(remote.host.resident_on, HOST2);
  assert.deepEqual(
    j.unregistered.map((v: { vm_uuid: string }) => v.vm_uuid),
    [UUID6, UUID7, UUID9],
  );
  const kinds = new Set(j.drift.map((d: { kind: string }) => d.kind));
  assert.deepEqual([...kinds].sort(), [
    "args-different",
    "args-missing",
    "multiple-devices",
    "unregistered-device",
    "vm-gone",
    "vmid-collision",
  ]);
  const collision = j.drift.find((d: { kind: string }) => d.kind === "vmid-collision");
  assert.deepEqual(collision, {
    vm_uuid: UUID7,
    kind: "vmid-collision",
    detail: `vm_id 1 belongs to registered VM ${UUID1} (web)`,
    fix: `vgpu-admin register-vm --vm-uuid=${UUID7} --vm-id=6`,
    other_vm_uuid: UUID1,
    vm_id: 1,
  });
});

Deno.test("scan-vms: xe failing -> database part, one warning line, exit 1", async () => {
  const h = await driftHost();
  await updateState(h.statePath, (s) => {
    s.faults = { "vm-list": { mode: "fail", stderr: "Error: Connection refused\n" } };
  });
  const r = await h.run(["scan-vms"]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^=== Pool A: 2 VMs ===\n/);
  assert.match(r.stdout, new RegExp(`UUID: ${UUID1} \\| Name: web .* \\| \\? Host not read`));
  assert.match(r.stdout, /=== Unregistered VMs: unknown \(the host could not be read\) ===/);
  assert.equal(r.stderr.split("\n").filter((l) => l !== "").length, 1);
  assert.match(r.stderr, /^warning: the host could not be read, only the database is shown: /);
  assert.match(r.stderr, /Connection refused/);
});

// ---- status ---------------------------------------------------------------------------------

async function statusHost(): Promise<Host> {
  const h = host([
    vm(UUID1, "web", undefined, { powerState: "running" }),
    vm(UUID2, "db", dev("B", "low", 9)),
    vm(UUID3, "lonely"),
  ]);
  // registered while running: the VM runs with stale args until its next start
  const r = await h.run(["register-vm", `--vm-uuid=${UUID1}`, "--priority=high"]);
  assert.equal(r.code, 0, r.stderr);
  await h.reg(UUID2, "--vm-name=db", "--pool=B", "--priority=low", "--vm-id=2");
  return h;
}

Deno.test("status: pools, drift, stale start, unregistered VMs", async () => {
  const h = await statusHost();
  const r = await h.run(["status"]);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /GPU Virtualization Control Panel/);
  assert.match(
    out,
    new RegExp(
      `  web \\(UUID: ${UUID1}\\) \\| Priority: high \\| VM ID: 1 \\| ⚠ running with stale vGPU args since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d [+-]\\d{4}: restart to apply\n`,
    ),
  );
  assert.match(
    out,
    new RegExp(
      `  db \\(UUID: ${UUID2}\\) \\| Priority: low \\| VM ID: 2 \\| ⚠ args differ\n {6}⚠ vgpu-stub differs from the database: vm_id=9 \\(database 2\\) -> fix: vgpu-admin sync\n`,
    ),
  );
  assert.match(
    out,
    // One line per unregistered VM with its uuid (names may hold ", "), then the seed's note.
    new RegExp(
      `Unregistered VMs: 1\n {2}lonely \\(UUID: ${UUID3}\\)\n {2}\\(not registered - will default to Pool A if registered without --pool\\)\n`,
    ),
  );
  assert.match(
    out,
    /Total VMs Registered: 2\nTotal VMs Unregistered: 1\nTotal VMs in System: 3\n$/,
  );
  assert.ok(out.indexOf("Pool A:") < out.indexOf("Pool B:"));
});

for (
  const [label, breakIt, says] of [
    [
      "xe failing",
      (h: Host) =>
        updateState(h.statePath, (s) => {
          s.faults = { "vm-list": { mode: "fail", stderr: "Error: Connection refused\n" } };
        }).then(() => ({})),
      /Connection refused/,
    ],
    [
      "VGPU_XE pointing at a missing file",
      (h: Host) => Promise.resolve({ VGPU_XE: `${h.dir}/no-such-xe` }),
      /xe not found at .*no-such-xe/,
    ],
  ] as const
) {
  Deno.test(`status: ${label} -> database part, one warning line, exit 1`, async () => {
    const h = await statusHost();
    const env = await breakIt(h);
    const r = await h.run(["status"], { env });
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      new RegExp(`  web \\(UUID: ${UUID1}\\) \\| Priority: high \\| VM ID: 1\n`),
    );
    assert.match(r.stdout, /Unregistered VMs: unknown \(the host could not be read\)/);
    assert.match(r.stdout, /Total VMs Registered: 2\n/);
    const lines = r.stderr.split("\n").filter((l) => l !== "");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^warning: the host could not be read, only the database is shown: /);
    assert.match(lines[0], says);
    // scan-vms degrades the same way
    const s = await h.run(["scan-vms"], { env });
    assert.equal(s.code, 1);
    assert.match(s.stdout, /=== Pool A: 1 VMs ===/);
    assert.equal(s.stderr.split("\n").filter((l) => l !== "").length, 1);
  });
}

// ---- sync -----------------------------------------------------------------------------------

async function syncHost(): Promise<Host> {
  const h = host([
    vm(UUID1, "web", `-m 512 ${dev("A", "high", 1)}`),
    vm(UUID2, "db", "-usb", { powerState: "running" }),
    vm(UUID3, "batch", `${dev("A", "low", 3)} -display none`),
    vm(UUID4, "multi", `${dev("B", "low", 4)} -m 1 ${dev("B", "low", 4)}`),
  ]);
  await h.reg(UUID1, "--vm-name=web", "--pool=A", "--priority=high", "--vm-id=1");
  await h.reg(UUID2, "--vm-name=db", "--pool=A", "--priority=low", "--vm-id=2");
  await h.reg(UUID3, "--vm-name=batch", "--pool=B", "--priority=low", "--vm-id=3");
  await h.reg(UUID4, "--vm-name=multi", "--pool=B", "--priority=low", "--vm-id=4");
  return h;
}

Deno.test("sync --check: exit 0 in sync, 3 on drift", async () => {
  const h = host([vm(UUID1, "web", dev("A", "high", 1)), vm(UUID6, "hand", dev("B", "low", 9))]);
  await h.reg(UUID1, "--vm-name=web", "--pool=A", "--priority=high", "--vm-id=1");
  const ok = await h.run(["sync", "--check"]);
  // a hand-configured VM that collides with nothing is not drift
  assert.deepEqual([ok.code, ok.stdout], [
    0,
    "✓ In sync: 1 registered VMs match the database.\n",
  ]);

  const d = await syncHost();
  const r = await d.run(["sync", "--check"]);
  assert.equal(r.code, 3);
  assert.match(r.stdout, /⚠ Drift: 3 problems found\.\n$/);
  for (const u of [UUID2, UUID3, UUID4]) assert.match(r.stdout, new RegExp(`VM ${u} `));
  assert.deepEqual(writeVerbs(d), []);
});

Deno.test("sync --dry-run prints the exact xe commands and changes nothing", async () => {
  const h = await syncHost();
  const before = await fileHash(h.statePath);
  clearCalls(h);
  const r = await h.run(["sync", "--dry-run"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      `xe vm-param-set uuid=${UUID2} platform:device-model-args='-usb ${dev("A", "low", 2)}'`,
      `xe vm-param-set uuid=${UUID3} platform:device-model-args='${
        dev("B", "low", 3)
      } -display none'`,
      `xe vm-param-set uuid=${UUID4} platform:device-model-args='${dev("B", "low", 4)} -m 1'`,
      "# 3 commands; nothing was changed (--dry-run).",
    ].join("\n") + "\n",
  );
  assert.equal(await fileHash(h.statePath), before);
  assert.deepEqual(writeVerbs(h), []);
});

Deno.test("sync fixes the args; a second --check exits 0", async () => {
  const h = await syncHost();
  const r = await h.run(["sync"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Synced 3 VMs\.\n$/);
  assert.match(
    r.stdout,
    new RegExp(`VM ${UUID2} \\(db\\): wrote .* \\(the VM is running: applies at its next start\\)`),
  );
  assert.equal(platformOf(h, UUID1)[KEY], `-m 512 ${dev("A", "high", 1)}`, "in sync: untouched");
  assert.equal(platformOf(h, UUID2)[KEY], `-usb ${dev("A", "low", 2)}`);
  assert.equal(platformOf(h, UUID3)[KEY], `${dev("B", "low", 3)} -display none`);
  assert.equal(platformOf(h, UUID4)[KEY], `${dev("B", "low", 4)} -m 1`);
  const again = await h.run(["sync", "--check"]);
  assert.equal(again.code, 0, again.stdout);
  // the running VM got new args it does not run with yet
  const s = await h.run(["status"]);
  assert.match(s.stdout, new RegExp(`db \\(UUID: ${UUID2}\\).*running with stale vGPU args`));
});

// ---- adopt ----------------------------------------------------------------------------------

Deno.test("adopt --yes registers a hand-configured VM from its args; a clone is refused", async () => {
  const h = host([
    vm(UUID1, "web", dev("A", "high", 1)),
    vm(UUID6, "hand", `-m 64 ${dev("B", "medium", 20)}`),
    vm(UUID7, "web-clone", dev("A", "high", 1)),
  ]);
  await h.reg(UUID1, "--vm-name=web", "--pool=A", "--priority=high", "--vm-id=1");
  const before = await fileHash(h.statePath);
  const r = await h.run(["adopt", "--yes"]);
  assert.equal(r.code, 1, "one VM was not adopted");
  assert.match(
    r.stdout,
    new RegExp(
      `⚠ not adopted: VM ${UUID7} \\(web-clone\\): vm_id 1 is already registered to VM ${UUID1} \\(a clone\\?\\)`,
    ),
  );
  assert.match(r.stdout, new RegExp(`✓ adopted VM ${UUID6} \\(hand\\)`));
  assert.match(r.stdout, /Adopted 1 VM\(s\); 1 not adopted\.\n$/);
  assert.deepEqual(await row(h, UUID6), {
    pool_id: "B",
    priority: "medium",
    vm_id: 20,
    vm_name: "hand",
  });
  assert.equal(await row(h, UUID7), null, "the clone is not registered");
  assert.deepEqual(await row(h, UUID1), {
    pool_id: "A",
    priority: "high",
    vm_id: 1,
    vm_name: "web",
  });
  assert.equal(await fileHash(h.statePath), before, "adopt changes only the database");
  assert.deepEqual(writeVerbs(h), []);
});

Deno.test("adopt: stdin 'no' cancels", async () => {
  const h = host([vm(UUID6, "hand", dev("B", "medium", 20))]);
  const r = await h.run(["adopt"], { input: ["no"] });
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`VM ${UUID6} \\(hand\\): vGPU pool B, priority medium`));
  assert.match(r.stderr, /Cancelled; nothing changed\.\n$/);
  assert.equal(await row(h, UUID6), null);
  assert.equal(await historyLen(h), 0);
});

Deno.test("register-vm: a vm_id conflict names the same next free vm_id as sync --check (held or carried)", async () => {
  // vm_id 1 is held (web), 2 is carried by an unregistered VM, 3 is held by an offline row.
  const h = host([
    vm(UUID1, "web", dev("A", "high", 1)),
    vm(UUID2, "hand", dev("B", "low", 2)),
    vm(UUID3, "clone", dev("A", "high", 1)),
  ]);
  assert.equal((await h.run(["register-vm", `--vm-uuid=${UUID1}`])).code, 0);
  await h.reg(UUID4, "--vm-id=3");
  const check = await h.run(["sync", "--check"]);
  assert.match(check.stdout, new RegExp(`register-vm --vm-uuid=${UUID3} --vm-id=4\\n`));
  for (
    const [argv, why] of [
      [["register-vm", `--vm-uuid=${UUID3}`], ", the vm_id this VM's args carry"],
      [["register-vm", `--vm-uuid=${UUID3}`, "--vm-id=1"], ""],
    ] as const
  ) {
    const r = await h.run([...argv]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `error: VM ID 1 already in use by VM ${UUID1} (web)${why}; pass --vm-id=4 (the next free vm_id) to choose another\n`,
    );
    assert.equal(await row(h, UUID3), null);
  }
  const ok = await h.run(["register-vm", `--vm-uuid=${UUID3}`, "--vm-id=4"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(platformOf(h, UUID3)[KEY], dev("A", "high", 4));
});

Deno.test("set-vm-id: a vm_id held by another VM names the next free one", async () => {
  const h = host([vm(UUID1, "web"), vm(UUID2, "db")]);
  await h.reg(UUID1, "--vm-id=1");
  await h.reg(UUID2, "--vm-id=2");
  const r = await h.run(["set-vm-id", `--vm-uuid=${UUID2}`, "--vm-id=1", "--yes"]);
  assert.deepEqual([r.code, r.stderr], [
    1,
    `error: VM ID 1 already in use by VM ${UUID1} (<no name>); pass --vm-id=3 (the next free vm_id) to choose another\n`,
  ]);
});

// --vm=<name | uuid | unique uuid prefix> wherever --vm-uuid is taken (issue 18 C14): a name or
// prefix means one VM or the command stops (ambiguous: exit 2 listing the candidates with their
// uuids; unknown: exit 1); register-vm and adopt look names up among the host's VMs.
import assert from "node:assert/strict";
import { fakeHost, runInProcess } from "./helpers.ts";
import { findVm, makeVm, readStateSync } from "./fake-xe/state.ts";

const U = (n: number) =>
  `${
    ["", "a1b2c3d4", "5e1f0000", "5e1f0000", "f4000000", "f5000000"][n]
  }-0000-4000-8000-00000000000${n}`;
const KEY = "device-model-args";

async function host() {
  const h = fakeHost([
    makeVm({ uuid: U(1), nameLabel: "web", powerState: "running" }),
    makeVm({ uuid: U(2), nameLabel: "twin" }),
    makeVm({ uuid: U(3), nameLabel: "twin" }),
    makeVm({ uuid: U(4), nameLabel: "fresh" }),
    makeVm({
      uuid: U(5),
      nameLabel: "hand",
      platform: { [KEY]: "-device vgpu-stub,pool_id=B,priority=low,vm_id=9" },
    }),
  ]);
  const run = (argv: string[], input?: string[]) => runInProcess(argv, { env: h.env, input });
  for (const n of [1, 2, 3]) {
    const r = await run(["register-vm", `--vm-uuid=${U(n)}`]);
    assert.equal(r.code, 0, r.stderr);
  }
  return { h, run };
}

Deno.test("--vm by name, by whole uuid and by unique uuid prefix names the same VM as --vm-uuid", async () => {
  const { run } = await host();
  const want = await run(["show-vm", `--vm-uuid=${U(1)}`, "--offline"]);
  assert.equal(want.code, 0, want.stderr);
  for (
    const vm of [
      "web",
      U(1),
      U(1).toUpperCase(),
      "a1b2c3",
      " A1B2C3D4-0 ",
    ]
  ) {
    const r = await run(["show-vm", `--vm=${vm}`, "--offline"]);
    assert.deepEqual([r.code, r.stdout], [0, want.stdout], vm);
  }
  // shorter than 6 characters: a name only ("a1b2c" is nobody's name)
  const short = await run(["show-vm", "--vm=a1b2c", "--offline"]);
  assert.equal(short.code, 1);
});

Deno.test("an ambiguous --vm is exit 2 listing every candidate with its uuid; an unknown one exit 1", async () => {
  const { h, run } = await host();
  const before = readStateSync(h.statePath);
  const twin = await run(["set-pool", "--vm=twin", "--pool=B", "--yes"]);
  assert.equal(twin.code, 2);
  assert.equal(
    twin.stderr,
    `error: --vm="twin" matches 2 VMs by name: ${U(2)} (twin), ${
      U(3)
    } (twin); give --vm-uuid=<uuid>\n`,
  );
  assert.deepEqual(readStateSync(h.statePath).vms, before.vms, "nothing changed");
  const prefix = await run(["history", "--vm=5e1f0000"]);
  assert.equal(prefix.code, 2);
  assert.equal(
    prefix.stderr,
    `error: --vm="5e1f0000" matches 2 VMs by uuid prefix: ${U(2)} (twin), ${
      U(3)
    } (twin); give --vm-uuid=<uuid>\n`,
  );
  const none = await run(["remove-vm", "--vm=nobody", "--yes"]);
  assert.equal(none.code, 1);
  assert.match(
    none.stderr,
    /^error: no registered VM is named "nobody" or has a uuid starting with it/,
  );
  const both = await run(["show-vm", "--vm=web", `--vm-uuid=${U(1)}`]);
  assert.deepEqual([both.code, both.stderr], [2, "error: give --vm-uuid or --vm, not both\n"]);
  const neither = await run(["show-vm"]);
  assert.equal(neither.code, 2);
  assert.match(
    neither.stderr,
    /required option --vm-uuid=<uuid> \(or --vm=<name\|uuid>\) not specified/,
  );
});

Deno.test("--vm works for every command that takes --vm-uuid; register-vm and adopt find unregistered VMs", async () => {
  const { h, run } = await host();
  const reg = await run(["register-vm", "--vm=fresh", "--pool=B"]);
  assert.equal(reg.code, 0, reg.stderr);
  assert.match(reg.stdout, new RegExp(`^Registered VM ${U(4)} \\(fresh\\): vGPU pool B`));
  const adopt = await run(["adopt", "--vm=hand", "--yes"]);
  assert.equal(adopt.code, 0, adopt.stderr);
  assert.match(adopt.stdout, new RegExp(`adopted VM ${U(5)} \\(hand\\)`));
  for (
    const argv of [
      ["set-pool", "--vm=web", "--pool=B", "--yes"],
      ["set-priority", "--vm=web", "--priority=high", "--yes"],
      ["set-vm-id", "--vm=web", "--vm-id=77", "--yes"],
      ["update-vm", "--vm=web", "--priority=low", "--yes"],
      ["history", "--vm=web"],
      ["recover", "--vm=web"],
    ]
  ) {
    const r = await run(argv);
    assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  }
  assert.match(
    findVm(readStateSync(h.statePath), U(1))!.platform[KEY],
    /pool_id=B,priority=low,vm_id=77/,
  );
  const rm = await run(["remove-vm", "--vm=fresh", "--yes"]);
  assert.equal(rm.code, 0, rm.stderr);
  const offline = await run(["register-vm", "--vm=fresh", "--offline"]);
  assert.equal(offline.code, 2);
  assert.match(
    offline.stderr,
    /--offline does not ask xe, so it cannot look a name up: give --vm-uuid/,
  );
});

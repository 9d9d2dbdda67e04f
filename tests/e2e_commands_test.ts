// Every host command once as a subprocess (the product's permissions, a clean environment)
// against the fake xe, in the order an administrator would use them; each step checks the
// exit code, the output and the effect on the simulated host.
import assert from "node:assert/strict";
import { fakeHost, runCli, UUID1, UUID2, UUID3, UUID4 } from "./helpers.ts";
import { findVm, makeVm, readStateSync } from "./fake-xe/state.ts";

const KEY = "device-model-args";
const dev = (pool: string, prio: string, id: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${prio},vm_id=${id}`;

Deno.test("every host command as a subprocess against the fake xe", async (t) => {
  const h = fakeHost([
    makeVm({
      uuid: UUID1,
      nameLabel: "web",
      powerState: "running",
      platform: { [KEY]: "-vga std" },
    }),
    makeVm({ uuid: UUID2, nameLabel: "db" }),
    makeVm({ uuid: UUID3, nameLabel: "hand", platform: { [KEY]: dev("B", "low", 30) } }),
    makeVm({ uuid: UUID4, nameLabel: "plain" }),
  ]);
  const args = (uuid: string) => findVm(readStateSync(h.statePath), uuid)!.platform[KEY] ?? null;
  const power = (uuid: string) => findVm(readStateSync(h.statePath), uuid)!.powerState;
  const cli = (argv: string[], stdin?: string) => runCli(argv, { env: h.env, stdin });

  const steps: {
    argv: string[];
    stdin?: string;
    code: number;
    out: RegExp;
    effect?: () => void;
  }[] = [
    // A read command never creates the database; a command that writes does (design.md §7).
    { argv: ["scan-vms"], code: 1, out: /^$/ },
    { argv: ["settings", "xe-timeout", "30"], code: 0, out: /^xe-timeout = 30$/m },
    {
      argv: ["scan-vms"],
      code: 0,
      out: /=== Unregistered VMs: 4 ===[\s\S]*adopt --vm-uuid=33333333/,
    },
    {
      argv: ["register-vm", `--vm-uuid=${UUID1.toUpperCase()}`, "--pool=b", "--priority=HIGH"],
      code: 0,
      out: /Registered VM 11111111-[\s\S]*next start/,
      effect: () => assert.equal(args(UUID1), `-vga std ${dev("B", "high", 1)}`),
    },
    {
      argv: ["register-vm", `--vm-uuid=${UUID2}`, "--vm-id=7"],
      code: 0,
      out: /vGPU pool A, priority medium, VM ID 7/,
      effect: () => assert.equal(args(UUID2), dev("A", "medium", 7)),
    },
    {
      argv: ["show-vm", `--vm-uuid=${UUID1}`],
      code: 0,
      out: /running with stale vGPU args since/,
    },
    { argv: ["status"], code: 0, out: /Total VMs Registered: 2\nTotal VMs Unregistered: 2/ },
    {
      argv: ["set-priority", `--vm-uuid=${UUID1}`, "--priority=low"],
      stdin: "yes\n",
      code: 0,
      out: /This change requires stopping and restarting the VM\.[\s\S]*Applied/,
      effect: () => {
        assert.equal(args(UUID1), `-vga std ${dev("B", "low", 1)}`);
        assert.equal(power(UUID1), "running");
      },
    },
    {
      argv: ["set-vm-id", `--vm-uuid=${UUID2}`, "--vm-id=8"],
      stdin: "no\n",
      code: 1,
      out: /New configuration:[\s\S]*VM ID: 8/,
      effect: () => assert.equal(args(UUID2), dev("A", "medium", 7)),
    },
    {
      argv: ["set-vm-id", `--vm-uuid=${UUID2}`, "--vm-id=8", "--yes"],
      code: 0,
      out: /The VM is halted; it gets the new configuration at its next start\./,
      effect: () => assert.equal(args(UUID2), dev("A", "medium", 8)),
    },
    {
      argv: ["set-pool", `--vm-uuid=${UUID2}`, "--pool=B", "--yes"],
      code: 0,
      out: /is in vGPU pool B/,
      effect: () => assert.equal(args(UUID2), dev("B", "medium", 8)),
    },
    {
      argv: ["update-vm", `--vm-uuid=${UUID2}`, "--pool=A", "--priority=high", "--yes"],
      code: 0,
      out: /vGPU pool A, priority high, VM ID 8/,
      effect: () => assert.equal(args(UUID2), dev("A", "high", 8)),
    },
    { argv: ["sync", "--check"], code: 0, out: /In sync: 2 registered VMs/ },
    {
      argv: ["adopt"],
      stdin: "y\n",
      code: 0,
      out: /adopted VM 33333333-3333-4333-8333-333333333333 \(hand\)/,
    },
    {
      argv: ["startup-hook", `--vm-uuid=${UUID4}`, "--reason=none"],
      code: 0,
      out: /^$/,
      effect: () => assert.match(Deno.readTextFileSync(h.logPath), /action=unregistered result=ok/),
    },
    {
      argv: ["sync", "--dry-run"],
      code: 0,
      out: /^# 0 commands; nothing was changed \(--dry-run\)\.$/m,
    },
    {
      argv: ["remove-vm", `--vm-uuid=${UUID2}`, "--yes"],
      code: 0,
      out: /the platform key was removed/,
      effect: () => assert.equal(args(UUID2), null),
    },
    { argv: ["sync"], code: 0, out: /^Synced 0 VMs\.$/m },
    {
      argv: ["list-vms", "--format=json"],
      code: 0,
      out: /"vm_uuid": "33333333-[\s\S]*"vm_id": 30/,
    },
  ];
  for (const s of steps) {
    await t.step(s.argv.join(" "), async () => {
      const r = await cli(s.argv, s.stdin);
      assert.equal(r.code, s.code, r.stderr);
      assert.match(r.stdout, s.out);
      s.effect?.();
    });
  }
});

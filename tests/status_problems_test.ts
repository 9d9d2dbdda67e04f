// status and doctor say truthfully what is wrong (issue 18 C10): every problem status counts has
// its own line with its fix, the unregistered list marks the VMs that carry a vgpu-stub (and does
// not promise Pool A to a VM whose stub says B), doctor never shows "drift ✓ agree" beside a drift
// problem and never offers `sync` for a problem sync cannot fix.
import assert from "node:assert/strict";
import { fakeHost, runInProcess, UUID1, UUID2, UUID3, UUID4 } from "./helpers.ts";
import { type FakeVm, makeVm, updateState } from "./fake-xe/state.ts";

const UUID5 = "55555555-5555-4555-8555-555555555555";
const GONE = "66666666-6666-4666-8666-666666666666";
const dev = (p: string, pr: string, id: number) =>
  `-device vgpu-stub,pool_id=${p},priority=${pr},vm_id=${id}`;
const vm = (uuid: string, name: string, args?: string, running = false): FakeVm =>
  makeVm({
    uuid,
    nameLabel: name,
    powerState: running ? "running" : "halted",
    platform: args === undefined ? {} : { "device-model-args": args },
  });

async function host(vms: FakeVm[], setup: string[][]) {
  const h = fakeHost(vms);
  const run = (argv: string[]) => runInProcess(argv, { env: h.env });
  for (const argv of setup) {
    const r = await run(argv);
    assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  }
  return run;
}

/** A host with a clone, a hand-configured VM in B, a VM with two devices, a plain one, a gone one. */
const messy = () =>
  host([
    vm(UUID1, "web", dev("A", "high", 1), true),
    vm(UUID2, "clone", dev("A", "high", 1)),
    vm(UUID3, "handB", dev("B", "low", 7)),
    vm(UUID4, "two", `${dev("B", "low", 8)} ${dev("A", "low", 9)}`),
    vm(UUID5, "plain"),
  ], [
    ["register-vm", `--vm-uuid=${UUID1}`],
    ["register-vm", `--vm-uuid=${GONE}`, "--offline", "--vm-name=gone"],
  ]);

Deno.test("status: every problem it counts has its own line with the fix sync --check gives", async () => {
  const run = await messy();
  const check = await run(["sync", "--check"]);
  assert.equal(check.code, 3);
  const problems = check.stdout.split("\n").filter((l) => l.startsWith("⚠ VM "));
  const status = await run(["status"]);
  assert.equal(status.code, 0, status.stderr);
  const counted = Number(/⚠ Drift: (\d+) problems? on/.exec(status.stdout)?.[1]);
  assert.equal(counted, problems.length, status.stdout);
  for (const p of problems) {
    // "⚠ VM <uuid> (<name>): <detail> -> fix: <command>" → the detail and fix under that VM
    const [, uuid, rest] = /^⚠ VM (\S+) \([^)]*\): (.*)$/.exec(p)!;
    const block = status.stdout.split("\n").reduce<string[]>((acc, l) => {
      if (l.includes(`(UUID: ${uuid})`)) return [l];
      if (acc.length > 0 && /^ {6}⚠ /.test(l)) return [...acc, l];
      return acc.length > 0 && acc[acc.length - 1] !== "" ? [...acc, ""] : acc;
    }, []);
    assert.ok(
      block.some((l) => l === `      ⚠ ${rest}`),
      `${rest}\nnot under its VM in:\n${status.stdout}`,
    );
  }
  // sync repairs none of these: the summary does not say it does
  assert.doesNotMatch(status.stdout, /'vgpu-admin sync' repairs/);
});

Deno.test("status: the unregistered list marks vgpu-stub carriers; the Pool A hint is not given to a VM whose stub says B", async () => {
  const run = await host([vm(UUID3, "handB", dev("B", "low", 7)), vm(UUID5, "plain")], [[
    "settings",
    "hook-strict",
    "off",
  ]]);
  const r = await run(["status"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(`\\n  handB \\(UUID: ${UUID3}\\) \\| vgpu-stub: pool B, priority low, VM ID 7\\n`),
  );
  assert.match(r.stdout, new RegExp(`\\n  plain \\(UUID: ${UUID5}\\)\\n`));
  assert.match(r.stdout, new RegExp(`fix: vgpu-admin adopt --vm-uuid=${UUID3}\\n`));
  assert.doesNotMatch(r.stdout, /will default to Pool A if registered without --pool\)/);
  assert.match(
    r.stdout,
    /without a vgpu-stub: will default to Pool A .*with one: keeps its values/,
  );
  // registering it without options does what the hint says: its stub's pool B
  const reg = await run(["register-vm", `--vm-uuid=${UUID3}`]);
  assert.match(reg.stdout, /vGPU pool B, priority low, VM ID 7/);
  // only plain VMs left: seed 001's hint, as it was
  const plainOnly = await run(["status"]);
  assert.match(
    plainOnly.stdout,
    /\n {2}\(not registered - will default to Pool A if registered without --pool\)\n/,
  );
});

Deno.test("doctor: no 'drift ✓ agree' beside a vm_id collision; no sync offered for what sync cannot fix", async () => {
  const clone = await host([
    vm(UUID1, "web", dev("A", "high", 1)),
    vm(UUID2, "clone", dev("A", "high", 1)),
  ], [
    ["register-vm", `--vm-uuid=${UUID1}`],
  ]);
  const d1 = await clone(["doctor", "--root=/nonexistent"]);
  assert.doesNotMatch(d1.stdout, /✓ drift/, d1.stdout);
  assert.match(
    d1.stdout,
    /✗ drift: 1 problem: the vm_id collision below -> fix: each line below gives its own fix \(vgpu-admin sync fixes none of them\)\n/,
  );
  const run = await messy();
  const d2 = await run(["doctor", "--root=/nonexistent"]);
  const drift = d2.stdout.split("\n").find((l) => l.includes(" drift: "))!;
  assert.doesNotMatch(drift, /fix: vgpu-admin sync/, drift);
  const strict = d2.stdout.split("\n").find((l) => l.includes(" strict-mode: "))!;
  assert.doesNotMatch(strict, /fix: vgpu-admin sync/, strict);
  // where sync does fix everything, it is offered
  const h = fakeHost([vm(UUID1, "web", dev("A", "high", 1))]);
  assert.equal((await runInProcess(["register-vm", `--vm-uuid=${UUID1}`], { env: h.env })).code, 0);
  await updateState(h.statePath, (s) => {
    s.vms.find((v) => v.uuid === UUID1)!.platform["device-model-args"] = dev("B", "high", 1);
  });
  const d3 = await runInProcess(["doctor", "--root=/nonexistent"], { env: h.env });
  assert.match(d3.stdout, /✗ drift: 1 problem on 1 VM -> fix: vgpu-admin sync \(each line below/);
});

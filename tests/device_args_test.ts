import assert from "node:assert/strict";
import {
  buildDevice,
  canonicalStub,
  inSyncParse,
  mergeDeviceArgs,
  type ParsedArgs,
  parseDeviceArgs,
  removeDeviceArgs,
  sameConfig,
  scanDeviceArgs,
  tokenizeArgs,
} from "../src/domain/device-args.ts";
import type { VgpuConfig } from "../src/domain/types.ts";
import { assertGolden, goldenCases } from "./golden.ts";

// The config every golden case merges in: different from every input's, so a replacement shows.
const MERGE: VgpuConfig = { pool: "B", priority: 0, vmId: 42 };

/** A case's input: `args.txt` (exact bytes) or an empty `args.null` for an absent key. */
function input(c: ReturnType<typeof goldenCases>[number]): string | null {
  const text = c.read("args.txt");
  if (text !== null) return text;
  assert.notEqual(c.read("args.null"), null, `case ${c.name} has neither args.txt nor args.null`);
  return null;
}

const show = (s: string | null) => s === null ? "null" : JSON.stringify(s);

/** Every field of every stub of a parse, as plain data (the canonical shortcut is a class). */
function fields(p: ParsedArgs) {
  return p.stubs.map((s) => ({
    start: s.start,
    end: s.end,
    raw: s.raw,
    props: { ...s.props },
    propsProto: Object.getPrototypeOf(s.props),
    config: s.config === null ? null : { ...s.config },
    vmId: s.vmId,
    problems: [...s.problems],
  }));
}

function render(args: string | null): string {
  const lines = [`args: ${show(args)}`];
  const { stubs } = parseDeviceArgs(args);
  lines.push(`stubs: ${stubs.length}`);
  stubs.forEach((s, i) => {
    lines.push(`#${i + 1} [${s.start}, ${s.end}) ${JSON.stringify(s.raw)}`);
    lines.push(`   props: ${JSON.stringify({ ...s.props })}`);
    lines.push(`   config: ${s.config === null ? "null" : JSON.stringify(s.config)}`);
    lines.push(`   vm_id: ${s.vmId}`);
    if (s.problems.length === 0) lines.push("   problems: none");
    else for (const p of s.problems) lines.push(`   problem: ${p}`);
  });
  lines.push(`merge ${JSON.stringify(MERGE)}: ${show(mergeDeviceArgs(args, MERGE))}`);
  lines.push(`remove: ${show(removeDeviceArgs(args))}`);
  return lines.join("\n") + "\n";
}

/** The arguments outside every vgpu-stub pair, in order. */
function otherTokens(args: string | null): string[] {
  const { stubs } = parseDeviceArgs(args);
  return tokenizeArgs(args).filter((t) => !stubs.some((s) => t.start >= s.start && t.end <= s.end))
    .map((t) => t.text);
}

for (const c of goldenCases("device-args")) {
  Deno.test(`device-args golden: ${c.name}`, () => {
    const args = input(c);
    assertGolden(c.path("expected.txt"), render(args));

    // Properties every case must keep, whatever its golden output says.
    const merged = mergeDeviceArgs(args, MERGE);
    const after = parseDeviceArgs(merged).stubs;
    assert.equal(after.length, 1);
    assert.deepEqual(after[0].config, MERGE);
    assert.equal(mergeDeviceArgs(merged, MERGE), merged, "merge is idempotent");
    assert.deepEqual(otherTokens(merged), otherTokens(args), "merge keeps the other args");
    const removed = removeDeviceArgs(args);
    assert.equal(parseDeviceArgs(removed).stubs.length, 0);
    assert.deepEqual(otherTokens(removed), otherTokens(args), "remove keeps the other args");
    assert.equal(removeDeviceArgs(merged), removed, "remove undoes merge");
    assert.equal(removeDeviceArgs(removed), removed, "remove is idempotent");
  });
}

Deno.test("buildDevice spells every priority and pool", () => {
  const cases: [VgpuConfig, string][] = [
    [{ pool: "A", priority: 0, vmId: 1 }, "-device vgpu-stub,pool_id=A,priority=low,vm_id=1"],
    [
      { pool: "B", priority: 1, vmId: 100 },
      "-device vgpu-stub,pool_id=B,priority=medium,vm_id=100",
    ],
    [
      { pool: "A", priority: 2, vmId: 2147483647 },
      "-device vgpu-stub,pool_id=A,priority=high,vm_id=2147483647",
    ],
  ];
  for (const [config, expected] of cases) {
    assert.equal(buildDevice(config), expected);
    assert.deepEqual(parseDeviceArgs(expected).stubs[0].config, config);
  }
});

Deno.test("buildDevice refuses values it must never write", () => {
  const bad = [
    { pool: "C", priority: 0, vmId: 1 },
    { pool: "A", priority: 3, vmId: 1 },
    { pool: "A", priority: 0, vmId: 0 },
    { pool: "A", priority: 0, vmId: 2147483648 },
    { pool: "A", priority: 0, vmId: 1.5 },
  ] as unknown as VgpuConfig[];
  for (const c of bad) assert.throws(() => buildDevice(c), RangeError);
});

Deno.test("sameConfig compares pool, priority and vm_id only", () => {
  const a: VgpuConfig = { pool: "A", priority: 2, vmId: 1 };
  assert.equal(sameConfig(a, { pool: "A", priority: 2, vmId: 1 }), true);
  assert.equal(sameConfig(a, { ...a, pool: "B" }), false);
  assert.equal(sameConfig(a, { ...a, priority: 1 }), false);
  assert.equal(sameConfig(a, { ...a, vmId: 2 }), false);
  const numeric = parseDeviceArgs("-device vgpu-stub,pool_id=A,priority=2,vm_id=1").stubs[0];
  assert.ok(numeric.config !== null && sameConfig(numeric.config, a), "priority=2 equals high");
});

Deno.test("the parse of a VM in sync, made from its config, is the scan of its args", () => {
  const json = (p: ParsedArgs) => JSON.parse(JSON.stringify(p));
  for (const vmId of [1, 42, 999999, 2147483647]) {
    for (const pool of ["A", "B"] as const) {
      for (const priority of [0, 1, 2] as const) {
        const c: VgpuConfig = { pool, priority, vmId };
        const args = buildDevice(c);
        const made = inSyncParse(args, c);
        assert.deepEqual(fields(made), fields(scanDeviceArgs(args)), args);
        assert.deepEqual(json(made), json(scanDeviceArgs(args)), args);
        // its config is its own: not the object it was made from (a registered row)
        assert.notEqual(made.stubs[0].config, c);
      }
    }
  }
});

Deno.test("the canonical shortcut gives what the general scan gives, or leaves the line to it", () => {
  const canonical = [
    "-device vgpu-stub,pool_id=A,priority=low,vm_id=1",
    "-device vgpu-stub,pool_id=B,priority=medium,vm_id=42",
    "-device vgpu-stub,pool_id=A,priority=high,vm_id=2147483647",
  ];
  const others = [
    "-device vgpu-stub,pool_id=A,priority=high,vm_id=2147483648",
    "-device vgpu-stub,pool_id=A,priority=high,vm_id=0",
    "-device vgpu-stub,pool_id=A,priority=high,vm_id=01",
    "-device vgpu-stub,pool_id=A,priority=2,vm_id=1",
    "-device vgpu-stub,pool_id=C,priority=low,vm_id=1",
    "-device vgpu-stub,pool_id=A,priority=low,vm_id=1 ",
    " -device vgpu-stub,pool_id=A,priority=low,vm_id=1",
    "-device vgpu-stub,pool_id=A,priority=low,vm_id=1,id=x",
    "-device vgpu-stub,pool_id=A,priority=low,vm_id=1 -vga std",
    "-device vgpu-stub,pool_id=A,vm_id=1,priority=low",
    "-device vgpu-stub,pool_id=A,priority=low,vm_ix=1",
    "-device vgpu-stub,pool_id=A,priority=lowest,vm_id=1",
    "-device vgpu-stub,pool_id=A;priority=low,vm_id=1",
    "-device vgpu-stub,pool_id=A,priority=low,vm_id=1\n",
    "-device  vgpu-stub,pool_id=A,priority=low,vm_id=1",
    "",
  ];
  for (const s of canonical) {
    assert.notEqual(canonicalStub(s), null, s);
    assert.deepEqual(fields(canonicalStub(s)!), fields(scanDeviceArgs(s)), s);
    // and the same plain data in JSON (a drift report is plain data)
    const json = (p: ParsedArgs | null) => JSON.parse(JSON.stringify(p));
    assert.deepEqual(json(canonicalStub(s)), json(scanDeviceArgs(s)), s);
  }
  for (const s of others) assert.equal(canonicalStub(s), null, JSON.stringify(s));
  assert.equal(canonicalStub(null), null);
  for (let id = 1; id <= 2000; id += 7) {
    for (const prio of ["low", "medium", "high"]) {
      const s = `-device vgpu-stub,pool_id=${id % 2 ? "A" : "B"},priority=${prio},vm_id=${id}`;
      assert.deepEqual(fields(canonicalStub(s)!), fields(scanDeviceArgs(s)), s);
    }
  }
});

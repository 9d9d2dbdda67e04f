/**
 * docs/json.md's examples against real output: each example block is matched with the document
 * the command it documents prints on a fake host like the one the examples describe. Shapes are
 * compared, not values (uuids, times and counts differ): the same keys in the same order, and the
 * same JSON type wherever both sides have a value (`null` matches anything). A `jsonc` example
 * may leave parts out (`// …`): its keys must then exist, in order, but need not be all.
 */
import assert from "node:assert/strict";
import type { ScanJson } from "../src/cli/render/json-types.ts";
import { fakeHost, type FakeHostEnv, ROOT, runInProcess } from "./helpers.ts";
import { makeVm, readStateSync, writeStateSync } from "./fake-xe/state.ts";

const U1 = "11111111-1111-4111-8111-111111111111";
const U2 = "22222222-2222-4222-8222-222222222222";
const U3 = "33333333-3333-4333-8333-333333333333";
const U4 = "44444444-4444-4444-8444-444444444444";
const KEY = "device-model-args";
const dev = (pool: string, priority: string, id: number) =>
  `-device vgpu-stub,pool_id=${pool},priority=${priority},vm_id=${id}`;

/** One example block of json.md: the heading above it, its rank under that heading, its text. */
export interface Example {
  heading: string;
  nth: number;
  line: number;
  lang: "json" | "jsonc";
  text: string;
}

export function examples(md: string): Example[] {
  const out: Example[] = [];
  const lines = md.split("\n");
  let heading = "";
  let nth = 0;
  for (let i = 0; i < lines.length; i++) {
    const h = /^#{2,4} (.*)$/.exec(lines[i]);
    if (h) {
      heading = h[1];
      nth = 0;
      continue;
    }
    const fence = /^```(json|jsonc)$/.exec(lines[i]);
    if (!fence) continue;
    const start = i + 1;
    while (i + 1 < lines.length && lines[i + 1] !== "```") i++;
    out.push({
      heading,
      nth: nth++,
      line: start,
      lang: fence[1] as "json" | "jsonc",
      text: lines.slice(start, i + 1).join("\n"),
    });
    i++;
  }
  return out;
}

/** JSON with `// …` comments and the trailing commas they leave. */
export function parseJsonc(text: string): unknown {
  const noComments = text.split("\n").map((l) =>
    l.replace(/^\s*\/\/.*$/, "").replace(/,?\s*\/\/ …$/, ",")
  )
    .join("\n");
  return JSON.parse(noComments.replace(/,(\s*[}\]])/g, "$1"));
}

function kind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** Differences between the example's shape and the real document's, as paths. */
export function shapeDiff(example: unknown, real: unknown, partial: boolean, path = "$"): string[] {
  const [ke, kr] = [kind(example), kind(real)];
  if (ke === "null" || kr === "null") return [];
  if (ke !== kr) return [`${path}: example is ${ke}, real output is ${kr}`];
  if (ke === "array") {
    const e = example as unknown[];
    const r = real as unknown[];
    if (r.length === 0) return [];
    // Elements differ in kind (history entries, drift items): any real element of the same
    // shape will do; otherwise the differences from the element at the same place are shown.
    return e.flatMap((x, i) =>
      r.some((y) => shapeDiff(x, y, partial).length === 0)
        ? []
        : shapeDiff(x, r[Math.min(i, r.length - 1)], partial, `${path}[${i}]`)
    );
  }
  if (ke !== "object") return [];
  const e = example as Record<string, unknown>;
  const r = real as Record<string, unknown>;
  const ek = Object.keys(e);
  const rk = Object.keys(r);
  const out: string[] = [];
  const missing = ek.filter((k) => !(k in r));
  if (missing.length > 0) out.push(`${path}: not in the real output: ${missing.join(", ")}`);
  const order = rk.filter((k) => ek.includes(k));
  if (missing.length === 0 && order.join() !== ek.join()) {
    out.push(`${path}: keys in another order: example ${ek.join(",")}, real ${rk.join(",")}`);
  }
  if (!partial) {
    const extra = rk.filter((k) => !(k in e));
    if (extra.length > 0) out.push(`${path}: not in the example: ${extra.join(", ")}`);
  }
  for (const k of ek) if (k in r) out.push(...shapeDiff(e[k], r[k], partial, `${path}.${k}`));
  return out;
}

/** The host the examples describe: render-01 in sync, render-02 drifted and stale, legacy-cad a
 * hand-configured clone, build-box plain, and a VM whose device is invalid. */
async function exampleHost(): Promise<FakeHostEnv> {
  const h = fakeHost([
    makeVm({
      uuid: U1,
      nameLabel: "render-01",
      powerState: "running",
      platform: { [KEY]: dev("A", "high", 1) },
    }),
    makeVm({ uuid: U2, nameLabel: "render-02", powerState: "running", platform: {} }),
    makeVm({ uuid: U3, nameLabel: "legacy-cad", platform: { [KEY]: dev("A", "high", 2) } }),
    makeVm({ uuid: U4, nameLabel: "build-box", platform: { [KEY]: dev("C", "high", 7) } }),
  ]);
  const ok = async (argv: string[]) => {
    const r = await runInProcess(argv, { env: h.env });
    assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  };
  await ok(["register-vm", `--vm-uuid=${U1}`, "--pool=A", "--priority=high", "--vm-id=1"]);
  // Registered while running: it runs with stale args until its next start.
  await ok(["register-vm", `--vm-uuid=${U2}`, "--pool=A", "--priority=medium", "--vm-id=2"]);
  await ok([
    "set-pool-name",
    "--pool-id=A",
    "--name=Production",
    "--description=latency-sensitive",
  ]);
  await ok(["settings", "xe-timeout", "60"]);
  // The priority hand-edited on the VM: drift.
  const state = readStateSync(h.statePath);
  state.vms.find((v) => v.uuid === U2)!.platform = { [KEY]: `-vga std ${dev("A", "low", 2)}` };
  writeStateSync(h.statePath, state);
  return h;
}

/** Which command (and host) each example shows: by heading, then rank under it. */
const SOURCES: Record<
  string,
  { argv: string[]; xeFails?: boolean; pick?: (d: ScanJson) => unknown }[]
> = {
  "Device object": [{ argv: ["scan-vms", "--format=json"], pick: (d) => d.unregistered?.[1] }],
  "list-pools": [{ argv: ["list-pools", "--format=json"] }],
  "show-pool": [{ argv: ["show-pool", "--pool-id=A", "--format=json"] }],
  "list-vms": [{ argv: ["list-vms", "--format=json"] }],
  "show-vm": [
    { argv: ["show-vm", `--vm-uuid=${U2}`, "--format=json"] },
    { argv: ["show-vm", `--vm-uuid=${U1}`, "--offline", "--format=json"] },
  ],
  status: [{ argv: ["status", "--format=json"] }],
  "scan-vms": [{ argv: ["scan-vms", "--format=json"] }],
  settings: [{ argv: ["settings", "--format=json"] }],
  history: [{ argv: ["history", "--format=json"] }],
  "When the host cannot be read": [
    { argv: ["status", "--format=json"], xeFails: true },
    { argv: ["scan-vms", "--format=json"], xeFails: true },
  ],
  "export file": [{ argv: ["export"] }],
};

Deno.test("docs/json.md: every example has the shape of the real output", async () => {
  const md = Deno.readTextFileSync(`${ROOT}/docs/json.md`);
  const all = examples(md);
  const h = await exampleHost();
  const problems: string[] = [];
  let checked = 0;
  for (const ex of all) {
    const src = SOURCES[ex.heading]?.[ex.nth];
    if (src === undefined) {
      problems.push(`docs/json.md:${ex.line}: no command known for this example (${ex.heading})`);
      continue;
    }
    const env = src.xeFails ? { ...h.env, VGPU_XE: "/nonexistent/xe" } : h.env;
    const r = await runInProcess(src.argv, { env });
    assert.equal(r.code, src.xeFails ? 1 : 0, `${src.argv.join(" ")}: ${r.stderr}`);
    const doc = JSON.parse(r.stdout);
    const real = src.pick ? src.pick(doc) : doc;
    const diff = shapeDiff(parseJsonc(ex.text), real, ex.lang === "jsonc");
    problems.push(...diff.map((d) => `docs/json.md:${ex.line} (${src.argv.join(" ")}): ${d}`));
    checked++;
  }
  assert.deepEqual(problems, []);
  assert.equal(checked, 13, "json.md has 13 examples");
});

Deno.test("the shape comparison: keys, order, types; null matches; jsonc may leave parts out", () => {
  assert.deepEqual(shapeDiff({ a: 1, b: "x" }, { a: 2, b: "y" }, false), []);
  assert.deepEqual(shapeDiff({ a: null }, { a: { x: 1 } }, false), []);
  assert.deepEqual(shapeDiff({ a: 1 }, { a: "1" }, false), [
    "$.a: example is number, real output is string",
  ]);
  assert.deepEqual(shapeDiff({ a: 1 }, { a: 1, b: 2 }, false), ["$: not in the example: b"]);
  assert.deepEqual(shapeDiff({ a: 1 }, { a: 1, b: 2 }, true), []);
  assert.deepEqual(shapeDiff({ b: 1, a: 1 }, { a: 1, b: 2 }, false), [
    "$: keys in another order: example b,a, real a,b",
  ]);
  assert.deepEqual(shapeDiff({ c: 1 }, { a: 1 }, true), ["$: not in the real output: c"]);
  assert.deepEqual(shapeDiff([{ a: 1 }, { a: 2 }], [{ a: "x" }], false), [
    "$[0].a: example is number, real output is string",
    "$[1].a: example is number, real output is string",
  ]);
  assert.deepEqual(
    parseJsonc('{\n  "a": [\n    // …\n  ],\n  "b": 1, // …\n  "c": 2\n}'),
    { a: [], b: 1, c: 2 },
  );
});

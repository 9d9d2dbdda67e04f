// writeJson (src/cli/format.ts) writes large documents piece by piece: the bytes must be exactly
// those of one JSON.stringify(doc, null, 2), whatever the shape.
import assert from "node:assert/strict";
import * as formatModule from "../src/cli/format.ts";
import { JSON_SCHEMA_VERSION, writeJson } from "../src/cli/format.ts";
import { bufferIo } from "../src/cli/io.ts";

function expected(body: Record<string, unknown>): string {
  return JSON.stringify({ schema_version: JSON_SCHEMA_VERSION, ...body }, null, 2) + "\n";
}

Deno.test("writeJson: the same bytes as one JSON.stringify, small and large documents", () => {
  const vm = (i: number) => ({
    vm_uuid: `7d1e2f00-0000-4000-8000-${String(i).padStart(12, "0")}`,
    vm_name: i % 5 === 0 ? null : `vm-${i} "quoted"\n\u{1F600} é`,
    skipped: undefined,
    drift: i % 7 === 0 ? [] : [{ kind: "args-different", fix: ["sync", i] }],
    empty: {},
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, i % 60)),
  });
  const docs: Record<string, unknown>[] = [
    {},
    { vms: [] },
    { vms: [vm(1), vm(2)] },
    { filter: { pool_id: null }, vms: Array.from({ length: 500 }, (_, i) => vm(i)) },
    {
      pools: [
        { pool_id: "A", vms: Array.from({ length: 40 }, (_, i) => vm(i)), counts: [1, 2, 3] },
        {
          pool_id: "B",
          vms: [vm(99)],
          nested: { deep: { list: Array.from({ length: 33 }, (_, i) => i) } },
        },
      ],
      unregistered: null,
      list: [undefined, 1, "x"],
    },
  ];
  for (const body of docs) {
    const io = bufferIo();
    writeJson(io.out, body);
    assert.equal(io.stdout(), expected(body));
  }
});

Deno.test("writeJson: mapped lists give the bytes of the arrays they stand for, at any depth", () => {
  const { mapped } = formatModule;
  const vm = (i: number) => ({
    vm_uuid: `uuid-${i}`,
    name: i % 3 === 0 ? `"q"\n\u{1F600} é` : null,
    devices: i % 2 === 0 ? [] : [{ raw: `-device x,${i}`, problems: ["a", "b"] }],
    gone: undefined,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, i % 60)),
  });
  for (const n of [0, 1, 63, 64, 65, 200]) {
    const ids = Array.from({ length: n }, (_, i) => i);
    const build = (lazy: boolean) => {
      const m = <S, T>(xs: S[], f: (s: S) => T) => (lazy ? mapped(xs, f) : xs.map(f));
      return {
        vms: m(ids, vm),
        pools: [{ pool_id: "A", vms: m(ids, vm) }, { pool_id: "B", vms: m([], vm) }],
        deep: { deeper: { list: m(ids, (i) => i) } },
        unregistered: null,
      };
    };
    const io = bufferIo();
    writeJson(io.out, build(true));
    assert.equal(io.stdout(), expected(build(false)), `${n} elements`);
    // JSON.stringify of the view (toJSON) gives the same text too
    assert.equal(
      JSON.stringify({ schema_version: JSON_SCHEMA_VERSION, ...build(true) }, null, 2) + "\n",
      expected(build(false)),
    );
  }
});

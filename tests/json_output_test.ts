// writeJson (src/cli/format.ts) writes large documents piece by piece: the bytes must be exactly
// those of one JSON.stringify(doc, null, 2), whatever the shape.
import assert from "node:assert/strict";
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

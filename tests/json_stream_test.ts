// writeJsonStream must print byte for byte what JSON.stringify(value, null, 2) prints.
import assert from "node:assert/strict";
import { writeJsonStream } from "../src/cli/format.ts";
import { bufferIo } from "../src/cli/io.ts";

const CASES: unknown[] = [
  {},
  [],
  null,
  'text with "quotes", \\ and \n newline',
  { a: 1, b: [1, "x", null, true, { c: [] }], d: {}, e: undefined, f: null },
  [undefined, 1, [[], [{}]], { g: "é 日本 🚀" }],
  { date: new Date(0), nested: { deep: { deeper: [1, 2, { x: -0.5e-7 }] } } },
  { big: Array.from({ length: 5000 }, (_, i) => ({ i, name: `vm-${i}`, tags: [i % 3] })) },
];

for (const [n, value] of CASES.entries()) {
  Deno.test(`writeJsonStream equals JSON.stringify(…, null, 2), case ${n}`, () => {
    const io = bufferIo();
    writeJsonStream(io.out, value);
    assert.equal(io.stdout(), JSON.stringify(value, null, 2) + "\n");
  });
}

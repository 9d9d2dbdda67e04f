// writeLines and lineWriter (src/cli/io.ts): the lines joined, in writes of at most ~16,384
// characters. A longer string of two-byte text (a VM name in CJK among 10,000 lines of scan-vms)
// is one V8 keeps as a large object until a full collection (issue 19, peak RSS).
import assert from "node:assert/strict";
import { lineWriter, writeLines } from "../src/cli/io.ts";

const LINES = Array.from(
  { length: 10_000 },
  (_, i) => `UUID: ${i} | Name: vm-${i}-日本 | ${"x".repeat(40)}`,
);
const LONGEST = Math.max(...LINES.map((l) => l.length + 1));

function recorder() {
  const writes: string[] = [];
  return { writes, out: { write: (t: string) => void writes.push(t) } };
}

Deno.test("writeLines: every line once, in order, in writes of at most 16,384 characters and a line", () => {
  const { writes, out } = recorder();
  writeLines(out, LINES);
  assert.equal(writes.join(""), LINES.join("\n") + "\n");
  assert.ok(writes.length > 1);
  for (const w of writes) assert.ok(w.length < 16_384 + LONGEST, String(w.length));
});

Deno.test("lineWriter: lines given one at a time make the same writes as writeLines", () => {
  const { writes, out } = recorder();
  const w = lineWriter(out);
  for (const l of LINES) w.line(l);
  w.end();
  const whole = recorder();
  writeLines(whole.out, LINES);
  assert.deepEqual(writes, whole.writes);
  w.end(); // a second end writes nothing more
  assert.deepEqual(writes, whole.writes);
});

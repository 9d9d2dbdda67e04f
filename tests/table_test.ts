// The table renderer: borders line up whatever the names hold (wide, combining, emoji).
import assert from "node:assert/strict";
import { displayWidth, renderTable } from "../src/cli/render/table.ts";

Deno.test("displayWidth counts terminal columns", () => {
  for (
    const [s, w] of [
      ["abc", 3],
      ["café", 4],
      ["cafe\u0301", 4], // e + combining acute
      ["日本", 4],
      ["한국어", 6],
      ["ｆｕｌｌ", 8],
      ["🚀x", 3],
      ["", 0],
    ] as const
  ) assert.equal(displayWidth(s), w, s);
});

Deno.test("every line of a table has the same display width", () => {
  const t = renderTable(
    ["VM ID", "Name"],
    [[1, "web"], [22, "日本のVM"], [333, "cafe\u0301 🚀"], [4, `"quoted", ; $(x)`]],
    false,
  );
  const widths = new Set(t.split("\n").map(displayWidth));
  assert.equal(widths.size, 1, t);
  assert.equal(t.split("\n").length, 4 + 4);
  assert.match(t, /^┌─+┬─+┐\n│ VM ID │ Name +│\n├─+┼─+┤\n│ 1 +│ web +│/);
});

Deno.test("the head is bold only with colour", () => {
  assert.ok(renderTable(["A"], [["x"]], true).includes("\x1b[1mA\x1b[22m"));
  assert.ok(!renderTable(["A"], [["x"]], false).includes("\x1b["));
});

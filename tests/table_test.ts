// The table renderer: widths from npm:string-width (grapheme clusters, emoji, ZWJ sequences,
// East Asian wide), fitted to a terminal's width, whole when there is no terminal. Expected
// widths are literal numbers and expected tables literal text, never the renderer's own measure.
import assert from "node:assert/strict";
import {
  type ColumnKind,
  fittedTable,
  measureFor,
  plainWidth,
  renderTable,
  shortenMiddle,
} from "../src/cli/render/table.ts";

const FAMILY = "👨‍👩‍👧"; // man ZWJ woman ZWJ girl: one grapheme, 2 columns

Deno.test("column widths count terminal columns (literal widths)", async () => {
  const measure = await measureFor(["é", FAMILY]);
  for (
    const [s, w] of [
      ["abc", 3],
      ["café", 4],
      ["cafe\u0301", 4], // e + combining acute
      ["日本", 4],
      ["한국어", 6],
      ["ｆｕｌｌ", 8],
      ["🚀x", 3],
      [FAMILY, 2],
      ["☕", 2],
      ["❤️", 2], // heart + VS16: emoji presentation
      ["🇫🇷", 2], // a flag: two regional indicators
      ["👍🏽", 2], // thumbs up + skin tone
      ["…", 1],
      ["", 0],
    ] as const
  ) assert.equal(measure(s), w, s);
});

Deno.test("an ASCII-only table never loads the width library", async () => {
  const measure = await measureFor(["abc", "x y"]);
  assert.equal(
    measure("👍🏽"),
    4,
    "without the library, a cell it would measure counts UTF-16 units",
  );
});

Deno.test("accents, Greek, Cyrillic and CJK are measured without the width library", async () => {
  const measure = await measureFor(["abc", "café", "Ωμέγα", "Жук", "日本", "ｆｕｌｌ", "…"]);
  assert.equal(measure("👍🏽"), 4, "the library was not loaded");
  for (
    const [s, w] of [["café", 4], ["Ωμέγα", 5], ["Жук", 3], ["日本", 4], ["ｆｕｌｌ", 8], ["…", 1]]
  ) {
    assert.equal(measure(s as string), w, s as string);
  }
});

Deno.test("plainWidth agrees with string-width on every character it measures", async () => {
  const { default: stringWidth } = await import("string-width");
  let measured = 0;
  for (let c = 0; c <= 0xffff; c++) {
    const ch = String.fromCharCode(c);
    const w = plainWidth(ch);
    if (w === null) continue;
    measured++;
    assert.equal(w, stringWidth(ch), `U+${c.toString(16).padStart(4, "0")}`);
  }
  assert.ok(measured > 25000, `${measured} characters`);
  assert.equal(plainWidth("vm-7-café-Ωμέγα-日本"), stringWidth("vm-7-café-Ωμέγα-日本"));
  for (const s of ["e\u0301", "👍", "한국어", "\u00ad", "a\u200db", "©", "\x1b[1m"]) {
    assert.equal(plainWidth(s), null, JSON.stringify(s));
  }
});

Deno.test("borders line up around emoji, ZWJ sequences and wide text (literal text)", async () => {
  const t = await fittedTable(
    ["ID", "Name"],
    [[1, FAMILY], [2, "☕ bar"], [3, "日本"], [4, "cafe\u0301"]],
    { color: false, columns: null, kinds: ["fixed", "shrink"] },
  );
  assert.equal(
    t,
    [
      "┌────┬────────┐",
      "│ ID │ Name   │",
      "├────┼────────┤",
      `│ 1  │ ${FAMILY}     │`, // 2 columns + 4 spaces
      "│ 2  │ ☕ bar │", // 2 + 1 + 3 columns: the widest cell
      "│ 3  │ 日本   │",
      "│ 4  │ cafe\u0301   │",
      "└────┴────────┘",
    ].join("\n"),
  );
});

const UUID = "0a000000-0000-4000-8000-000000000001";
const HEAD = ["VM ID", "UUID", "Name", "vGPU Pool", "Priority"];
const KINDS: ColumnKind[] = ["fixed", "fixed", "shrink", "fixed", "fixed"];
const LONG = "render-node-with-a-very-long-descriptive-name-07";

Deno.test("on a terminal too narrow for a name, the name is cut in the middle, never the uuid", () => {
  const t = renderTable(HEAD, [[1, UUID, LONG, "A", "high"]], false, {
    columns: 90,
    kinds: KINDS,
    measure: (s) => s.length,
  });
  const lines = t.split("\n");
  for (const l of lines) assert.equal(l.length, 90, l);
  assert.equal(
    lines[3],
    `│ 1     │ ${UUID} │ render-n…name-07 │ A         │ high     │`,
  );
});

Deno.test("without a terminal (columns null) nothing is cut", () => {
  const t = renderTable(HEAD, [[1, UUID, LONG, "A", "high"]], false, {
    columns: null,
    kinds: KINDS,
    measure: (s) => s.length,
  });
  assert.ok(t.includes(LONG));
  assert.equal(t.split("\n")[0].length, 122);
});

Deno.test("below the minimum width each row becomes a block of Label: value lines", () => {
  const t = renderTable(HEAD, [[1, UUID, LONG, "A", "high"], [2, UUID, "db", "B", "low"]], false, {
    columns: 50,
    kinds: KINDS,
    measure: (s) => s.length,
  });
  assert.equal(
    t,
    [
      "VM ID:     1",
      `UUID:      ${UUID}`,
      "Name:      render-node-with-a-…descriptive-name-07",
      "vGPU Pool: A",
      "Priority:  high",
      "",
      "VM ID:     2",
      `UUID:      ${UUID}`,
      "Name:      db",
      "vGPU Pool: B",
      "Priority:  low",
    ].join("\n"),
  );
  for (const l of t.split("\n")) assert.ok(l.length <= 50, l);
});

Deno.test("shortenMiddle keeps grapheme clusters whole (literal results)", async () => {
  const measure = await measureFor([FAMILY]);
  assert.equal(shortenMiddle("abcdefghij", 5, measure), "ab…ij");
  assert.equal(shortenMiddle("abcdefghij", 6, measure), "abc…ij");
  assert.equal(shortenMiddle("abcdefghij", 10, measure), "abcdefghij");
  // 2-column graphemes: never half an emoji; the result may be one column short.
  assert.equal(
    shortenMiddle(`${FAMILY}${FAMILY}${FAMILY}${FAMILY}`, 5, measure),
    `${FAMILY}…${FAMILY}`,
  );
  assert.equal(shortenMiddle(`${FAMILY}${FAMILY}${FAMILY}${FAMILY}`, 4, measure), `${FAMILY}…`);
  assert.equal(shortenMiddle("日本語のなまえ", 7, measure), "日…まえ");
});

Deno.test("the head is bold only with colour", () => {
  assert.ok(renderTable(["A"], [["x"]], true).includes("\x1b[1mA\x1b[22m"));
  assert.ok(!renderTable(["A"], [["x"]], false).includes("\x1b["));
});

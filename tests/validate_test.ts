// Input rules of design.md §2, table-driven (style.md rule 10a): every accepted spelling maps to
// its canonical value, every rejected one throws a one-line UsageError naming the option.
import assert from "node:assert/strict";
import { UsageError } from "../src/domain/errors.ts";
import {
  DESCRIPTION_MAX,
  NAME_MAX,
  parseDescription,
  parsePoolId,
  parsePoolName,
  parsePriority,
  parseUuid,
  parseVmId,
  parseVmName,
  VM_NAME_MAX,
} from "../src/domain/validate.ts";

const U = "7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff";

type Parser = (raw: string) => unknown;

interface Table {
  name: string;
  parse: Parser;
  /** The option every error message must name. */
  option: string;
  ok: readonly (readonly [string, unknown])[];
  bad: readonly string[];
}

const TABLES: readonly Table[] = [
  {
    name: "parseUuid",
    parse: (r) => parseUuid(r),
    option: "--vm-uuid",
    ok: [
      [U, U],
      [U.toUpperCase(), U],
      ["7D1E2F00-AaAa-bBbB-CCCC-ddddEEEEffff", U],
      [`  ${U}  `, U],
      [`\t${U}\n`, U],
      ["00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"],
    ],
    bad: [
      "",
      "   ",
      "nope",
      U.slice(0, -1), // short
      U + "f", // long
      "7d1e2f00-aaaa-bbbb-cccc-ddddeeeefffg", // non-hex
      "7d1e2f00aaaabbbbccccddddeeeeffff", // no dashes
      "7d1e2f00-aaaab-bbb-cccc-ddddeeeeffff", // dashes moved
      "{7d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff}",
      `${U};`,
      `${U}; rm -rf /`,
      `${U} ${U}`,
      "7d1e2f00-aaaa-bbbb-cccc-dddd eeeeffff",
      "7d1e2f00-aaaa-bbbb-cccc-ddddeeeeff\nff",
      "７d1e2f00-aaaa-bbbb-cccc-ddddeeeeffff", // full-width digit
      "abc123...",
    ],
  },
  {
    name: "parsePoolId",
    parse: (r) => parsePoolId(r),
    option: "--pool",
    ok: [["A", "A"], ["a", "A"], ["B", "B"], ["b", "B"], [" b ", "B"]],
    bad: ["C", "c", "", " ", "a b", "AB", "A;", "0", "1", "Pool A", "Ａ"],
  },
  {
    name: "parsePriority",
    parse: (r) => parsePriority(r),
    option: "--priority",
    ok: [
      ["low", 0],
      ["medium", 1],
      ["high", 2],
      ["LOW", 0],
      ["MEDIUM", 1],
      ["High", 2],
      ["hIgH", 2],
      ["0", 0],
      ["1", 1],
      ["2", 2],
      [" high ", 2],
    ],
    bad: ["urgent", "3", "-1", "", "med", "hi", "1.0", "01", "+1", "high;", "low medium", "２"],
  },
  {
    name: "parseVmId",
    parse: (r) => parseVmId(r),
    option: "--vm-id",
    ok: [["1", 1], ["2", 2], ["100", 100], ["2147483647", 2147483647], [" 8 ", 8]],
    bad: [
      "0",
      "-5",
      "-0",
      "+5",
      "1.5",
      "1.0",
      "abc",
      "0x10",
      "1e3",
      "99999999999",
      "2147483648",
      "9999999999",
      "007",
      "01",
      "",
      " ",
      "1 2",
      "5;",
      "٣", // Arabic-Indic digit three
      "Infinity",
      "NaN",
    ],
  },
];

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${e}`);
    return e;
  }
  assert.fail("expected a UsageError, but the value was accepted");
}

for (const t of TABLES) {
  for (const [raw, want] of t.ok) {
    Deno.test(`${t.name} accepts ${JSON.stringify(raw)}`, () => {
      assert.deepEqual(t.parse(raw), want);
    });
  }
  for (const raw of t.bad) {
    Deno.test(`${t.name} rejects ${JSON.stringify(raw)}`, () => {
      const e = usageError(() => t.parse(raw));
      assert.ok(e.message.startsWith(`invalid ${t.option} `), e.message);
      assert.ok(!e.message.includes("\n"), `one line: ${JSON.stringify(e.message)}`);
      // The value is shown quoted (control characters escaped), so the user sees what was typed.
      // (A value longer than 60 characters is shortened: its beginning is shown.)
      assert.ok(e.message.includes(JSON.stringify(raw).slice(0, 40)), e.message);
    });
  }
}

Deno.test("parsers name the option they were given in their errors", () => {
  assert.match(usageError(() => parsePoolId("C", "--pool-id")).message, /^invalid --pool-id "C"/);
  assert.match(usageError(() => parseUuid("x", "--vm")).message, /^invalid --vm "x"/);
  assert.match(usageError(() => parseVmId("0", "--id")).message, /^invalid --id "0"/);
  assert.match(usageError(() => parsePriority("9", "--p")).message, /^invalid --p "9"/);
  assert.match(usageError(() => parseVmName("", "--n")).message, /^invalid --n:/);
});

// ---- free text: names and descriptions ----------------------------------------------------------

const VERBATIM: readonly string[] = [
  "VM-1",
  "Ünïcödé ñame",
  "名前のあるVM",
  "🚀 rocket",
  "web, db, cache",
  `say "hello"`,
  "it's",
  "a;b",
  "'; DROP TABLE vms; --",
  "$(rm -rf /)",
  "`reboot`",
  "${HOME}",
  "a | b > c < d & e",
  "-device vgpu-stub,pool_id=B",
  "back\\slash",
  "%s %n",
  "x".repeat(NAME_MAX),
];

const CONTROL: readonly string[] = [
  "line1\nline2",
  "line1\r\nline2",
  "tab\there",
  "bell\x07",
  "nul\x00byte",
  "esc\x1b[31mred",
  "del\x7f",
  "c1\x85next-line",
  "c1\x9bcsi",
];

interface TextParser {
  name: string;
  parse: (raw: string) => string | null;
  option: string;
  max: number;
  emptyIs: "error" | null;
}

const TEXT_PARSERS: readonly TextParser[] = [
  {
    name: "parseVmName",
    parse: (r) => parseVmName(r),
    option: "--vm-name",
    max: VM_NAME_MAX,
    emptyIs: "error",
  },
  {
    name: "parsePoolName",
    parse: (r) => parsePoolName(r),
    option: "--name",
    max: NAME_MAX,
    emptyIs: "error",
  },
  {
    name: "parseDescription",
    parse: (r) => parseDescription(r),
    option: "--description",
    max: DESCRIPTION_MAX,
    emptyIs: null,
  },
];

Deno.test("the length limits are those of design.md §2 and the help texts", () => {
  assert.equal(NAME_MAX, 64);
  assert.equal(VM_NAME_MAX, 255);
  assert.equal(DESCRIPTION_MAX, 255);
});

for (const p of TEXT_PARSERS) {
  for (const raw of VERBATIM) {
    Deno.test(`${p.name} keeps ${JSON.stringify(raw.slice(0, 30))} verbatim`, () => {
      assert.equal(p.parse(raw), raw);
    });
  }
  Deno.test(`${p.name} trims surrounding spaces only`, () => {
    assert.equal(p.parse("  two  words  "), "two  words");
  });
  for (const raw of CONTROL) {
    Deno.test(`${p.name} rejects control characters: ${JSON.stringify(raw)}`, () => {
      const e = usageError(() => p.parse(raw));
      assert.ok(e.message.startsWith(`invalid ${p.option} `), e.message);
      assert.match(e.message, /newlines and control characters are not allowed/);
      // deno-lint-ignore no-control-regex
      assert.ok(!/[\x00-\x1f\x7f-\x9f]/.test(e.message), `escaped: ${JSON.stringify(e.message)}`);
    });
  }
  Deno.test(`${p.name} accepts exactly ${p.max} characters, counted as code points`, () => {
    assert.equal(p.parse("n".repeat(p.max)), "n".repeat(p.max));
    // Each emoji is two UTF-16 units but one character: the limit counts characters.
    assert.equal(p.parse("🚀".repeat(p.max)), "🚀".repeat(p.max));
  });
  Deno.test(`${p.name} rejects ${p.max + 1} characters`, () => {
    for (const raw of ["n".repeat(p.max + 1), "🚀".repeat(p.max + 1), "n".repeat(10_000)]) {
      const e = usageError(() => p.parse(raw));
      assert.equal(
        e.message,
        `invalid ${p.option}: at most ${p.max} characters (got ${[...raw].length})`,
      );
    }
  });
  Deno.test(`${p.name} on empty or blank input`, () => {
    for (const raw of ["", "   "]) {
      if (p.emptyIs === "error") {
        assert.equal(
          usageError(() => p.parse(raw)).message,
          `invalid ${p.option}: it must not be empty`,
        );
      } else {
        assert.equal(p.parse(raw), null, "an empty description clears it");
      }
    }
  });
}

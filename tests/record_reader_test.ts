// RecordReader reads the lines xe prints in place (no string per line, no regular expression:
// issue 19, vm-list at 10,000 VMs) and every other line by the general rule. Both must give what
// the general rule alone gives: here the rule as written in the test (split at the first ": ",
// LABEL_RE on the trimmed head, blank lines end a record), over lines of every shape, whole and
// cut into pieces, with the same records and the same errors.

import assert from "node:assert/strict";
import { RecordReader } from "../src/xe/parse.ts";

const LABEL_RE = /^(\S+)\s*\((?: RO| RW|MRO|MRW|SRO|SRW)\)$/;

/** The general rule alone: the records, or the message of the first error. */
function oracle(text: string): Map<string, string>[] | string {
  const out: Map<string, string>[] = [];
  let cur: Map<string, string> | null = null;
  const bad = (line: string) =>
    `xe printed output vgpu-admin cannot read: ${
      // deno-lint-ignore no-control-regex
      (line.replace(/[\u0000-\u001f\u007f]/g, "?")).slice(0, 80)}${line.length > 80 ? "…" : ""}`;
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (cur !== null) out.push(cur);
      cur = null;
      continue;
    }
    const at = line.indexOf(": ");
    let head: string;
    let value: string;
    if (at >= 0) {
      head = line.slice(0, at);
      value = line.slice(at + 2);
    } else if (line.endsWith(":")) {
      head = line.slice(0, -1);
      value = "";
    } else return bad(line);
    const m = LABEL_RE.exec(head.trim());
    if (m === null) return bad(line);
    cur ??= new Map();
    if (cur.has(m[1])) return bad(line);
    cur.set(m[1], value);
  }
  if (cur !== null) out.push(cur);
  return out;
}

function read(pieces: string[], reuse: boolean): Map<string, string>[] | string {
  const got: Map<string, string>[] = [];
  try {
    const r = new RecordReader((m) => void got.push(new Map(m)), { reuse });
    for (const p of pieces) r.push(p);
    r.end();
    return got;
  } catch (e) {
    return (e as Error).message;
  }
}

const LINES = [
  "uuid ( RO)                 : 7d1e2f00-0000-4000-8000-000000000001",
  "           name-label ( RW): vm-1",
  "             platform (MRW): device-model-args: -device vgpu-stub,pool_id=A; nx: true",
  "             platform (MRW):",
  "             platform (MRW): ",
  "          power-state ( RO): halted",
  "name ( RO): a label that begins another",
  "name-label-x ( RO): a label that another begins",
  "\tname-label ( RW): tabbed",
  " \t name-label ( RW): spaces and tabs",
  "name-label( RW): no space before the tag",
  "name-label  ( RW): two spaces before the tag",
  "name-label ( RW) : space after the tag",
  "name-label ( RW)\t: a tab after the tag",
  "name-label ( XX): unknown tag",
  "name-label ( RX): unknown mode",
  "name-label (XRO): unknown kind",
  "name-label (MRO] : unclosed",
  "name-label (RO): short tag",
  "name-label (MRO: cut tag",
  "na(me ( RO): a parenthesis in the label",
  "nämé ( RO): non-ASCII label",
  "\u00a0name-label ( RO): no-break space first",
  "name-label ( RO):no space after the colon",
  "name-label ( RO): value: with: colons",
  "name-label ( RO): ",
  "( RO): no label",
  " ( RO): no label, indented",
  "just text",
  "",
  "   ",
  "\t",
  "\u00a0",
  "\u2028",
  "\r",
  "uuid ( RO): x\r",
  "name-label ( RW): vm-1",
];

Deno.test("RecordReader: lines of every shape read as the general rule reads them", () => {
  // mulberry32: every line shape after every other, not a short cycle of low bits
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296 * n) | 0;
  };
  for (let round = 0; round < 3000; round++) {
    const n = 1 + rand(8);
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(LINES[rand(LINES.length)]);
    const text = lines.join("\n") + (rand(2) === 0 ? "\n" : "");
    const want = oracle(text);
    for (const reuse of [false, true]) {
      assert.deepEqual(read([text], reuse), want, JSON.stringify(text));
      const cut = rand(text.length + 1);
      assert.deepEqual(
        read([text.slice(0, cut), text.slice(cut)], reuse),
        want,
        `${JSON.stringify(text)} cut at ${cut}`,
      );
    }
  }
});

// xe pads every record alike, and RecordReader reads a line that begins with the head (indent,
// label, tag, padding, ": ") of the same line of the record before by that head alone: records
// mostly alike, some lines changed in one place, must still read as the general rule reads them.
Deno.test("RecordReader: records alike, shuffled, padded or tagged otherwise: the general rule", () => {
  let seed = 7;
  // the high bits of the generator: its low bits repeat with a short period
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648) >>> 12) % n;
  const labels = ["uuid", "name-label", "power-state", "platform", "resident-on", "name"];
  const tags = ["( RO)", "( RW)", "(MRW)", "(SRO)", "(XX)", "(RO)"];
  const values = ["v", "a: b", "", "x; y: z", "  spaced", "é 日本", ": ", "(RO): w"];
  for (let i = 0; i < 3000; i++) {
    // a few records, most of them alike (the reader's fast case), some changed in one place
    const base = [...labels].sort(() => rand(3) - 1).slice(0, 1 + rand(5));
    const pad = rand(3);
    let text = "";
    for (let r = 1 + rand(4); r > 0; r--) {
      const lines = base.map((label, j) => {
        const changed = rand(6) === 0;
        const tag = changed && rand(2) === 0 ? tags[rand(tags.length)] : tags[j % 2];
        const indent = changed && rand(2) === 0 ? " ".repeat(rand(3)) + "\t" : " ".repeat(pad + j);
        const gap = changed && rand(3) === 0 ? "" : " ".repeat(pad);
        const colon = changed && rand(4) === 0 ? ":" : ": ";
        return `${indent}${changed && rand(4) === 0 ? labels[rand(labels.length)] : label} ` +
          `${tag}${gap}${colon}${values[rand(values.length)]}`;
      });
      text += lines.join("\n") + "\n".repeat(1 + rand(3));
    }
    const want = oracle(text);
    const cut = rand(text.length + 1);
    for (const reuse of [false, true]) {
      assert.deepEqual(
        read([text.slice(0, cut), text.slice(cut)], reuse),
        want,
        JSON.stringify(text),
      );
    }
  }
});

Deno.test("RecordReader: with reuse, each record is handed over whole and on its own", () => {
  const seen: string[][] = [];
  const r = new RecordReader((m) => void seen.push([...m.entries()].flat()), { reuse: true });
  r.push("a ( RO): 1\nb ( RO): 2\n\n\na ( RO): 3\n\n");
  r.push("c ( RO): 4");
  r.end();
  assert.deepEqual(seen, [["a", "1", "b", "2"], ["a", "3"], ["c", "4"]]);
});

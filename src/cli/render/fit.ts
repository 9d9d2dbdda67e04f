// The line layouts (status, scan-vms, show-pool, show-vm, doctor, pool status, install-hook,
// uninstall-hook) on a terminal narrower than a line (an 80-column console): the line breaks
// between its ` | ` fields and before `-> fix:`, a piece still too wide between words; never inside
// a word, and a uuid is never cut. Continuation lines are indented under their line. A command to
// paste (`-> fix: …`, `Action: Run '…'`) is never broken: a line break inside it would run half of
// it; it gets a line of its own and the terminal folds it if it must. Through a pipe (no width)
// every line stays whole.
import { plainWidth } from "./table.ts";

// deno-lint-ignore no-control-regex
const SGR = /\x1b\[[0-9;]*m/g;

/** Columns `s` takes on a terminal (colour codes take none). */
function visible(s: string): number {
  const t = s.replace(SGR, "");
  return plainWidth(t) ?? [...t].length;
}

/** The pieces of a line, each with the separator that joins it to the previous one. */
function pieces(body: string): { sep: string; text: string }[] {
  const out: { sep: string; text: string }[] = [];
  body.split(" | ").forEach((field, i) => {
    const [first, ...fixes] = field.split(" -> fix: ");
    out.push({ sep: i === 0 ? "" : " | ", text: first });
    for (const f of fixes) out.push({ sep: " ", text: `-> fix: ${f}` });
  });
  return out;
}

/** `line` as one or more lines of at most `columns` columns (null: whole, as in a pipe). */
export function fitLine(line: string, columns: number | null): string[] {
  if (columns === null || visible(line) <= columns) return [line];
  const lead = /^ */.exec(line)![0];
  const indent = lead + "    ";
  const out: string[] = [];
  let cur = lead;
  let empty = true;
  const breakLine = () => {
    out.push(cur.trimEnd());
    cur = indent;
    empty = true;
  };
  for (const { sep, text } of pieces(line.slice(lead.length))) {
    if (!empty && visible(cur + sep + text) <= columns) {
      cur += sep + text;
      continue;
    }
    if (!empty) breakLine();
    if (visible(cur + text) <= columns || /^(-> fix: |fix: |Action: )/.test(text)) {
      cur += text;
      empty = false;
      continue;
    }
    for (const word of text.split(" ")) {
      if (empty) {
        cur += word;
        empty = false;
      } else if (visible(`${cur} ${word}`) <= columns) cur += ` ${word}`;
      else {
        breakLine();
        cur += word;
        empty = false;
      }
    }
  }
  out.push(cur.trimEnd());
  return out;
}

/** Every line fitted to the terminal (or left whole without one), one at a time. */
export function* fitLines(lines: Iterable<string>, columns: number | null): Generator<string> {
  for (const l of lines) {
    if (columns === null) yield l;
    else yield* fitLine(l, columns);
  }
}

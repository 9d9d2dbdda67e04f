// Tables (list-vms, history): box-drawn, one line per row, columns as wide as their widest cell.
// Written here rather than with cli-table3, measured (docs/benchmark.md): loading cli-table3
// cost ~30 ms of every table command's start-up, and it took 6.6 s and 192 MB to print
// 10,000 rows; this renderer prints them in ~25 ms.

// Zero-width: combining marks, variation selectors, zero-width joiners and spaces.
const ZERO_WIDTH = /[\p{Mn}\p{Me}\u200b-\u200f\ufe00-\ufe0f]/u;

/** Terminal columns of one code point: 2 for East Asian wide/fullwidth and emoji, else 1. */
function codePointWidth(cp: number): number {
  if (
    (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f680 && cp <= 0x1f6ff) || (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x1fa70 && cp <= 0x1faff) || (cp >= 0x20000 && cp <= 0x3fffd)
  ) return 2;
  return 1;
}

/** How many terminal columns `s` takes (names may hold any Unicode; control characters never). */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    if (ch.charCodeAt(0) < 0x80) w++;
    else if (!ZERO_WIDTH.test(ch)) w += codePointWidth(ch.codePointAt(0)!);
  }
  return w;
}

function pad(s: string, width: number): string {
  return s + " ".repeat(width - displayWidth(s));
}

/** The table as text (no trailing newline); the head is bold on a terminal. */
export function renderTable(
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  color: boolean,
): string {
  const cells = rows.map((r) => r.map(String));
  const widths = head.map((h, i) =>
    cells.reduce((w, r) => Math.max(w, displayWidth(r[i] ?? "")), displayWidth(h))
  );
  const rule = (l: string, m: string, r: string) =>
    l + widths.map((w) => "─".repeat(w + 2)).join(m) + r;
  const line = (r: readonly string[], style = (s: string) => s) =>
    "│" + widths.map((w, i) => ` ${style(pad(r[i] ?? "", w))} `).join("│") + "│";
  const bold = color ? (s: string) => `\x1b[1m${s}\x1b[22m` : undefined;
  const out = [rule("┌", "┬", "┐"), line(head, bold), rule("├", "┼", "┤")];
  for (const r of cells) out.push(line(r));
  out.push(rule("└", "┴", "┘"));
  return out.join("\n");
}

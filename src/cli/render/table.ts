// Tables (list-vms, history): box-drawn, one line per row. On a terminal the table fits its
// width: name-like columns are shortened in the middle with "…" (never uuids, ids or times), and
// below the columns' minimum widths each row is printed as a block of "Label: value" lines.
// Without a terminal nothing is cut. Written here rather than with cli-table3, measured
// (docs/benchmark.md): loading cli-table3 cost ~30 ms of every table command's start-up, and it
// took 6.6 s and 192 MB to print 10,000 rows; this renderer prints them in ~25 ms.

/** Terminal columns a string takes. */
export type Measure = (s: string) => number;

/** How a column may be fitted to the terminal: `fixed` is never cut, `shrink` is cut in the middle. */
export type ColumnKind = "fixed" | "shrink";

export interface TableLayout {
  /** Terminal columns to fit into; null (not a terminal) prints every cell whole. */
  columns?: number | null;
  /** One per column; columns not given are `fixed`. */
  kinds?: readonly ColumnKind[];
  /** The least width worth showing of a `shrink` column (default MIN_SHRINK_WIDTH). */
  minWidths?: readonly (number | undefined)[];
  /** Column widths; printable ASCII only when omitted (see measureFor). */
  measure?: Measure;
}

/** A shortened column never gets narrower than this (or its header, or its widest cell). */
export const MIN_SHRINK_WIDTH = 10;

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function asciiOnly(s: string): number {
  if (!PRINTABLE_ASCII.test(s)) {
    throw new Error("bug: a table with non-ASCII cells needs measureFor()");
  }
  return s.length;
}

/**
 * Terminal columns of `s` when every character of it is its own grapheme cluster with a plain
 * width: printable ASCII, Latin-1 and Latin Extended letters, Greek, Cyrillic, general
 * punctuation (1 column), CJK ideographs, kana and fullwidth forms (2 columns). Null for anything
 * else (marks, joiners, emoji, Hangul, controls…), which only string-width measures right. For
 * these characters string-width gives the same (tests/table_test.ts compares every one).
 */
export function plainWidth(s: string): number | null {
  let w = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (
      (c >= 0x20 && c <= 0x7e) ||
      (c >= 0xa0 && c <= 0x2ff && c !== 0xa9 && c !== 0xad && c !== 0xae) ||
      (c >= 0x370 && c <= 0x482) || (c >= 0x48a && c <= 0x4ff) ||
      (c >= 0x2010 && c <= 0x2027) || (c >= 0x2030 && c <= 0x205e && c !== 0x203c && c !== 0x2049)
    ) w += 1;
    else if (
      (c >= 0x3041 && c <= 0x3096) || (c >= 0x30a1 && c <= 0x30fa) ||
      (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff) ||
      (c >= 0xff01 && c <= 0xff60)
    ) w += 2;
    else return null;
  }
  return w;
}

/**
 * The width function for these cells: plain text (plainWidth) is measured here; anything else
 * by npm:string-width (grapheme clusters, emoji and ZWJ sequences, marks, Hangul). The library
 * loads only when a cell needs it (its Intl.Segmenter and RGI_Emoji set cost ~30 ms of start-up,
 * measured), and even then the other cells keep the fast path: one VM named "café" or "日本"
 * among 10,000 sends no cell through it (issue 19).
 */
export async function measureFor(cells: Iterable<string>): Promise<Measure> {
  for (const c of cells) {
    if (!PRINTABLE_ASCII.test(c) && plainWidth(c) === null) {
      const { default: stringWidth } = await import("string-width");
      return (s) => (PRINTABLE_ASCII.test(s) ? s.length : plainWidth(s) ?? stringWidth(s));
    }
  }
  // (a cell not given above is out of contract: UTF-16 units)
  return (s) => (PRINTABLE_ASCII.test(s) ? s.length : plainWidth(s) ?? s.length);
}

let segmenter: Intl.Segmenter | undefined;
function graphemes(s: string): string[] {
  if (PRINTABLE_ASCII.test(s) || plainWidth(s) !== null) return [...s];
  segmenter ??= new Intl.Segmenter();
  return Array.from(segmenter.segment(s), (g) => g.segment);
}

/**
 * `s` shortened to at most `width` columns by replacing its middle with "…", cut only between
 * grapheme clusters (an emoji sequence is kept or dropped whole).
 */
export function shortenMiddle(s: string, width: number, measure: Measure): string {
  if (measure(s) <= width) return s;
  if (width <= 1) return "…".slice(0, width);
  const parts = graphemes(s);
  const room = width - 1;
  let head = "";
  let headW = 0;
  let i = 0;
  while (i < parts.length) {
    const w = measure(parts[i]);
    if (headW + w > Math.ceil(room / 2)) break;
    head += parts[i++];
    headW += w;
  }
  let tail = "";
  let tailW = 0;
  for (let j = parts.length - 1; j >= i; j--) {
    const w = measure(parts[j]);
    if (headW + tailW + w > room) break;
    tail = parts[j] + tail;
    tailW += w;
  }
  return `${head}…${tail}`;
}

/** Width of a box table whose columns are `widths` wide: `│ a │ b │`. */
function boxWidth(widths: readonly number[]): number {
  return widths.reduce((a, w) => a + w + 3, 1);
}

/**
 * Column widths that fit `columns`, shrinking the widest `shrink` column first; null when even
 * the minimum widths do not fit (the caller then prints blocks).
 */
function fitWidths(
  natural: readonly number[],
  mins: readonly number[],
  kinds: readonly ColumnKind[],
  columns: number,
): number[] | null {
  const widths = [...natural];
  let over = boxWidth(widths) - columns;
  while (over > 0) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++) {
      if (
        kinds[i] === "shrink" && widths[i] > mins[i] && (widest < 0 || widths[i] > widths[widest])
      ) {
        widest = i;
      }
    }
    if (widest < 0) return null;
    widths[widest]--;
    over--;
  }
  return widths;
}

/** The table as text (no trailing newline); the head is bold on a terminal. */
export function renderTable(
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  color: boolean,
  layout: TableLayout = {},
): string {
  return renderTableLines(head, rows, color, layout).join("\n");
}

/** renderTable's lines, for writeLines: 10,000 rows are never joined into one string. */
export function renderTableLines(
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  color: boolean,
  layout: TableLayout = {},
): string[] {
  return [...tableLines(head, rows, color, layout)];
}

/**
 * renderTableLines one line at a time, as they are written: the 10,000 lines of list-vms are
 * never all held (issue 19: peak RSS and garbage collection at 10,000 VMs).
 */
export function* tableLines(
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  color: boolean,
  layout: TableLayout = {},
): Generator<string> {
  const measure = layout.measure ?? asciiOnly;
  const kinds = head.map((_, i) => layout.kinds?.[i] ?? "fixed");
  // Cells are turned into text where they are used: no second copy of 10,000 rows (issue 19).
  const text = (c: string | number | undefined) =>
    c === undefined ? "" : typeof c === "string" ? c : String(c);
  const natural = head.map((h, i) => {
    let w = measure(h);
    for (const r of rows) w = Math.max(w, measure(text(r[i])));
    return w;
  });
  const bold = color ? (s: string) => `\x1b[1m${s}\x1b[22m` : (s: string) => s;
  let widths = natural;
  const columns = layout.columns ?? null;
  if (columns !== null && boxWidth(natural) > columns) {
    const mins = natural.map((n, i) =>
      Math.min(n, Math.max(measure(head[i]), layout.minWidths?.[i] ?? MIN_SHRINK_WIDTH))
    );
    const fitted = fitWidths(natural, mins, kinds, columns);
    if (fitted === null) {
      yield renderBlocks(head, rows.map((r) => r.map(String)), kinds, columns, measure, bold);
      return;
    }
    widths = fitted;
  }
  const fit = (s: string, i: number) =>
    widths[i] < natural[i] ? shortenMiddle(s, widths[i], measure) : s;
  const pad = (s: string, w: number) => s + " ".repeat(Math.max(0, w - measure(s)));
  const rule = (l: string, m: string, r: string) =>
    l + widths.map((w) => "─".repeat(w + 2)).join(m) + r;
  // `│ a │ b │`
  const line = (r: readonly (string | number)[], style = (s: string) => s) => {
    let s = "│";
    for (let i = 0; i < widths.length; i++) s += ` ${style(pad(fit(text(r[i]), i), widths[i]))} │`;
    return s;
  };
  yield rule("┌", "┬", "┐");
  yield line(head, bold);
  yield rule("├", "┼", "┤");
  for (const r of rows) yield line(r);
  yield rule("└", "┴", "┘");
}

/** Below the minimum width: one block of `Label: value` lines per row, blank line between. */
function renderBlocks(
  head: readonly string[],
  cells: readonly (readonly string[])[],
  kinds: readonly ColumnKind[],
  columns: number,
  measure: Measure,
  bold: (s: string) => string,
): string {
  const labelWidth = Math.max(...head.map((h) => measure(h))) + 1;
  const room = Math.max(MIN_SHRINK_WIDTH, columns - labelWidth - 1);
  const blocks = cells.map((r) =>
    head.map((h, i) => {
      const label = `${h}:`.padEnd(labelWidth); // headers are ASCII
      const v = r[i] ?? "";
      return `${bold(label)} ${kinds[i] === "shrink" ? shortenMiddle(v, room, measure) : v}`;
    }).join("\n")
  );
  return blocks.join("\n\n");
}

/** A table sized for `columns` (null: not a terminal), loading the width library only if needed. */
export async function fittedTable(
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  o: FitOptions,
): Promise<string> {
  return [...await fittedTableLines(head, rows, o)].join("\n");
}

interface FitOptions {
  color: boolean;
  columns: number | null;
  kinds: readonly ColumnKind[];
  minWidths?: readonly (number | undefined)[];
}

/** fittedTable's lines, made as writeLines writes them. */
export async function fittedTableLines(
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  o: FitOptions,
): Promise<Iterable<string>> {
  const measure = await measureFor(everyCell(head, rows));
  return tableLines(head, rows, o.color, { ...o, measure });
}

/** The head's and the rows' cells as text, one at a time (no copy of the whole table). */
function* everyCell(
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): Generator<string> {
  yield* head;
  for (const r of rows) for (const c of r) yield typeof c === "string" ? c : String(c);
}

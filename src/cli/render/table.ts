// Tables (list-vms, history) through cli-table3, loaded only when a table is printed
// (design.md §6: table and prompt libraries stay off the start-up path).

export async function renderTable(
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  color: boolean,
): Promise<string> {
  const { default: Table } = await import("cli-table3");
  const t = new Table({
    head: [...head],
    // Colour codes only on a terminal; cli-table3 colours the head red by default.
    style: { head: color ? ["bold"] : [], border: [] },
    // No rule between rows: one line per VM reads and greps better at 10,000 rows.
    chars: { "mid": "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  for (const r of rows) t.push(r.map(String));
  return t.toString();
}

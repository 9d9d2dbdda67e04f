// The `op_journal` table (design.md §5 steps 4 and 10): one row per operation that touches the
// host, written before its first change and closed with its last; a row left open is what
// `recover` finishes or undoes. Rows are checked by decodeJournal (rows.ts) before use.
import type { ForwardStep, JournalEntry, JournalStep } from "../domain/journal.ts";
import { decodeJournal } from "./rows.ts";
import type { Row, Sql } from "./sql.ts";

const JOURNAL_COLUMNS =
  "id, vm_uuid, command, actor, pid, started_at, step, original_json, target_json";

export class JournalTable {
  constructor(private readonly sql: Sql) {}

  /** Opens a journal entry (committed at once, before the first change to the host). */
  openJournal(e: Omit<JournalEntry, "id" | "startedAt" | "step" | "actor" | "undoFrom">): number {
    return this.sql.transaction(() =>
      this.sql.run(
        `INSERT INTO op_journal (vm_uuid, command, actor, pid, started_at, step, original_json,
           target_json) VALUES (?, ?, ?, ?, ?, 'planned', ?, ?)`,
        e.vmUuid,
        e.command,
        this.sql.audit.actor,
        e.pid,
        this.sql.now().toISOString(),
        JSON.stringify(e.original),
        JSON.stringify(e.target),
      ).lastId
    );
  }

  /** Records the last completed step; `args` updates the original/target args read later. */
  advanceJournal(
    id: number,
    step: JournalStep,
    args?: { original: string | null; target: string | null },
  ): void {
    this.sql.transaction(() => {
      this.sql.run(`UPDATE op_journal SET step = ? WHERE id = ?`, step, id);
      if (args === undefined) return;
      const e = this.#entry(id);
      this.sql.run(
        `UPDATE op_journal SET original_json = ?, target_json = ? WHERE id = ?`,
        JSON.stringify({ ...e.original, args: args.original }),
        JSON.stringify({ ...e.target, args: args.target }),
        id,
      );
    });
  }

  #entry(id: number): JournalEntry {
    return decodeJournal(
      this.sql.get<Row>(`SELECT ${JOURNAL_COLUMNS} FROM op_journal WHERE id = ?`, id)!,
    );
  }

  /**
   * Records that the operation is being undone (and the forward step it had reached): a run
   * killed from here on is undone by recover too, which then never waits for a shutdown again.
   */
  markJournalUndoing(id: number, from: ForwardStep): void {
    this.sql.transaction(() => {
      const e = this.#entry(id);
      this.sql.run(
        `UPDATE op_journal SET step = 'undoing', target_json = ? WHERE id = ?`,
        JSON.stringify({ ...e.target, undoFrom: from }),
        id,
      );
    });
  }

  /** Closes an entry; call inside the transaction of the operation's last database change. */
  closeJournal(id: number, outcome: string): void {
    this.sql.transaction(() => {
      this.sql.run(
        `UPDATE op_journal SET closed_at = ?, outcome = ? WHERE id = ? AND closed_at IS NULL`,
        this.sql.now().toISOString(),
        outcome,
        id,
      );
    });
  }

  /** Open journal entries (all, or one VM's), oldest first. */
  openJournalEntries(vmUuid?: string): JournalEntry[] {
    return this.sql.all<Row>(
      `SELECT ${JOURNAL_COLUMNS} FROM op_journal
       WHERE closed_at IS NULL ${vmUuid === undefined ? "" : "AND vm_uuid = ?"} ORDER BY id`,
      ...(vmUuid === undefined ? [] : [vmUuid]),
    ).map(decodeJournal);
  }

  /** Every open row, decoded or not (doctor lists the damaged ones). */
  openJournalRows(): Row[] {
    return this.sql.all<Row>(
      `SELECT ${JOURNAL_COLUMNS} FROM op_journal WHERE closed_at IS NULL ORDER BY id`,
    );
  }
}

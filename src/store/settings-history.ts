// The `settings` table (explicitly set values only) and the `history` table (one row per change,
// written by every table module through Sql.history; read here).
import type { PowerState, Vm } from "../domain/types.ts";
import { decodeHistory, decodeSetting, type HistoryRowValue } from "./rows.ts";
import { type Row, type Sql, sqlTimestamp, vmSnapshot } from "./sql.ts";

/** One history row, as its decoder in rows.ts reads it. */
export type HistoryEntry = HistoryRowValue;

export class SettingsHistoryTables {
  constructor(private readonly sql: Sql) {}

  /** Stored settings (only those set explicitly). */
  listSettings(): Map<string, string> {
    return new Map(
      // pool: keys are pool mode's own bookkeeping (store/pool-cache.ts), not settings
      this.sql.all<Row>(`SELECT key, value FROM settings WHERE key NOT LIKE 'pool:%' ORDER BY key`)
        .map(decodeSetting),
    );
  }

  setSetting(key: string, value: string | null): void {
    this.sql.transaction(() => {
      const before = this.sql.get<{ value: string }>(
        `SELECT value FROM settings WHERE key = ?`,
        key,
      );
      if (value === null) {
        this.sql.run(`DELETE FROM settings WHERE key = ?`, key);
      } else {
        this.sql.run(
          `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
           ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
          key,
          value,
          sqlTimestamp(this.sql.now()),
        );
      }
      const snap = (v: string | undefined | null) =>
        v === undefined || v === null ? null : JSON.stringify({ [key]: v });
      this.sql.history(null, null, snap(before?.value), snap(value));
    });
  }

  /** Records a history row of its own (recover's decisions). */
  recordHistory(vmUuid: string, before: Vm | null, after: Vm | null): void {
    this.sql.transaction(() => {
      this.sql.history(vmUuid, null, vmSnapshot(before), vmSnapshot(after));
    });
  }

  /** A stop or start vgpu-admin caused: `{"power":"running"}` -> `{"power":"halted","how":…}`. */
  recordPower(vmUuid: string, from: PowerState, to: PowerState, how: string): void {
    this.sql.transaction(() => {
      this.sql.history(
        vmUuid,
        null,
        JSON.stringify({ power: from }),
        JSON.stringify({ power: to, how }),
      );
    });
  }

  listHistory(o: { vmUuid?: string; limit?: number } = {}): HistoryEntry[] {
    const limit = o.limit ?? -1;
    const rows = o.vmUuid === undefined
      ? this.sql.all<Row>(`SELECT * FROM history ORDER BY id DESC LIMIT ?`, limit)
      : this.sql.all<Row>(
        `SELECT * FROM history WHERE vm_uuid = ? ORDER BY id DESC LIMIT ?`,
        o.vmUuid,
        limit,
      );
    return rows.map(decodeHistory);
  }
}

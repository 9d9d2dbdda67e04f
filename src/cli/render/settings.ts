// settings: one line per setting (`key = value (default)  # help`) or the JSON document, from
// the rows the command reads (issue 20 item 5: ops returns a view, render prints it).
import type { SettingsJson } from "./json-types.ts";

/** One setting as shown: its value, its default, whether it was set, what it does. */
export interface SettingRow {
  key: string;
  value: string;
  default: string;
  set: boolean;
  help: string;
}

export function settingsJson(rows: readonly SettingRow[]): SettingsJson {
  return {
    settings: rows.map((r) => ({
      key: r.key,
      value: r.value,
      default: r.default,
      is_default: !r.set,
    })),
  };
}

/** `key = value (default)  # help`, the keys aligned. */
export function settingsLines(rows: readonly SettingRow[]): string[] {
  const width = Math.max(...rows.map((r) => r.key.length));
  return rows.map((r) =>
    `${r.key.padEnd(width)} = ${r.value}${r.set ? "" : " (default)"}  # ${r.help}`
  );
}

/** `settings KEY VALUE` / `settings KEY --unset`: the value now in force. */
export function settingChangedLine(key: string, value: string | null, def: string): string {
  return value === null ? `${key} reset to its default: ${def}` : `${key} = ${value}`;
}

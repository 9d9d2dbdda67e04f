import { UsageError } from "../../domain/errors.ts";
import { SETTING_DEFS, settingDef } from "../../domain/settings.ts";
import type { Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { writeLines } from "../io.ts";
import {
  settingChangedLine,
  type SettingRow,
  settingsJson,
  settingsLines,
} from "../render/settings.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface SettingsOptions {
  key?: string;
  value?: string;
  unset: boolean;
  format: Format;
}

export function parseOptions(input: RawOptions): SettingsOptions {
  const raw = input.pick({ args: "args", unset: "flag", format: "text" });
  const [key, value, ...rest] = raw.args;
  if (rest.length > 0) throw new UsageError("too many arguments: settings [KEY [VALUE]]");
  if (key !== undefined) settingDef(key);
  if (raw.unset === true && (key === undefined || value !== undefined)) {
    throw new UsageError("--unset takes exactly one KEY: settings KEY --unset");
  }
  return { key, value, unset: raw.unset === true, format: parseFormat(raw.format) };
}

export async function run(opts: SettingsOptions, deps: Deps): Promise<void> {
  const writes = opts.key !== undefined && (opts.value !== undefined || opts.unset);
  // Only a change creates a missing database; showing settings never does (design.md §7).
  const store = await deps.store({ create: writes });
  const out = deps.io.out;
  if (writes) {
    const def = settingDef(opts.key!);
    const value = opts.unset ? null : def.parse(opts.value!);
    store.setSetting(def.key, value);
    writeLines(out, [settingChangedLine(def.key, value, def.default)]);
    return;
  }
  const stored = store.listSettings();
  const defs = opts.key === undefined ? SETTING_DEFS : [settingDef(opts.key)];
  const rows: SettingRow[] = defs.map((d) => {
    const raw = stored.get(d.key);
    return {
      key: d.key,
      value: raw ?? d.default,
      default: d.default,
      set: raw !== undefined,
      help: d.help,
    };
  });
  if (opts.format === "json") writeJson(out, settingsJson(rows));
  else if (opts.key !== undefined) writeLines(out, [rows[0].value]); // bare: for scripts
  else writeLines(out, settingsLines(rows));
}

export const command = defineCommand({ parseOptions, run });

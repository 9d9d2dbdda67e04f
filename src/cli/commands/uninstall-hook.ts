import { uninstallFiles } from "../../ops/install.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import type { Outcome } from "../outcome.ts";
import { uninstalledLines } from "../render/install.ts";
import { fitLines } from "../render/fit.ts";
import { paint } from "../render/style.ts";
import { parseRoot, recordInPool, rootedDb } from "./install-hook.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface UninstallHookOptions {
  /** Work under this directory instead of /; null = /. */
  root: string | null;
}

export function parseOptions(input: RawOptions): UninstallHookOptions {
  const raw = input.pick({ root: "text" });
  return { root: parseRoot(raw.root) };
}

/** Removes only files that carry our marker; the database stays. Idempotent. */
export async function run(opts: UninstallHookOptions, deps: Deps): Promise<Outcome> {
  const results = uninstallFiles(opts.root);
  const db = rootedDb(deps, opts.root).path;
  const lines = uninstalledLines(results, db, paint(deps.io.color));
  writeLines(deps.io.out, fitLines(lines, deps.io.columns ?? null));
  await recordInPool(deps, db, opts.root);
  return results.some((r) => r.action === "foreign") ? "degraded" : undefined;
}

export const command = defineCommand({ parseOptions, run });

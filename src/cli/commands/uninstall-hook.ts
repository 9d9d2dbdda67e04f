import { MARKER, uninstallFiles } from "../../ops/install.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import type { Outcome } from "../outcome.ts";
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
  const c = paint(deps.io.color);
  const lines: string[] = [];
  let foreign = 0;
  for (const r of uninstallFiles(opts.root)) {
    switch (r.action) {
      case "removed":
        lines.push(`${c.ok("✓")} ${r.kind} ${r.path}: removed`);
        break;
      case "absent":
        lines.push(`${c.ok("✓")} ${r.kind} ${r.path}: not installed, nothing to remove`);
        break;
      case "foreign":
        foreign++;
        lines.push(
          `${
            c.warn("⚠")
          } ${r.kind} ${r.path}: left in place: not written by vgpu-admin (no '${MARKER}' line); remove it by hand if it is not needed`,
        );
    }
  }
  lines.push(
    `The database ${
      rootedDb(deps, opts.root).path
    } is kept (remove it by hand if it is no longer needed).`,
  );
  writeLines(deps.io.out, lines);
  await recordInPool(deps, rootedDb(deps, opts.root).path, opts.root);
  return foreign > 0 ? "degraded" : undefined;
}

export const command = defineCommand({ parseOptions, run });

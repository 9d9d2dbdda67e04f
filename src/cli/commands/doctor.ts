import type { Settings } from "../../domain/settings.ts";
import { runDoctor } from "../../ops/doctor.ts";
import { DEFAULT_PROC_ROOT } from "../../ops/qemu-cmdline.ts";
import { actorFrom, type Deps } from "../deps.ts";
import { type Format, parseFormat, writeJson } from "../format.ts";
import { writeLines } from "../io.ts";
import type { Outcome } from "../outcome.ts";
import { doctorCounts, doctorJson, doctorLines } from "../render/doctor.ts";
import { paint } from "../render/style.ts";
import { parseRoot, rootedDb } from "./install-hook.ts";
import { fitLines } from "../render/fit.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface DoctorOptions {
  /** Look under this directory instead of /; null = /. */
  root: string | null;
  format: Format;
}

export function parseOptions(input: RawOptions): DoctorOptions {
  const raw = input.pick({ root: "text", format: "text" });
  return { root: parseRoot(raw.root), format: parseFormat(raw.format) };
}

/** Exit 1 when any check failed; warnings and checks not run do not fail it. */
export async function run(opts: DoctorOptions, deps: Deps): Promise<Outcome> {
  const db = rootedDb(deps, opts.root);
  const report = await runDoctor({
    root: opts.root,
    dbPath: db.path,
    dbExplicit: db.hookDb !== null,
    // Built here rather than through deps.xe(): that one would open (create, migrate) the database.
    xeFor: (s: Settings) => deps.xeWith(s),
    locksFor: (path) => deps.locksFor(path),
    localHostUuid: deps.localHost(),
    redoLog: () => deps.redoLog(),
    procRoot: deps.env.get("VGPU_PROC_ROOT") || DEFAULT_PROC_ROOT,
    audit: { actor: actorFrom(deps.env), command: "doctor" },
    now: deps.now,
  });
  if (opts.format === "json") writeJson(deps.io.out, doctorJson(report));
  else {
    const lines = doctorLines(report, paint(deps.io.color));
    writeLines(deps.io.out, fitLines(lines, deps.io.columns ?? null));
  }
  return doctorCounts(report).failed > 0 ? "degraded" : undefined;
}

export const command = defineCommand({ parseOptions, run });

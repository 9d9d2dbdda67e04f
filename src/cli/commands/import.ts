import { formatProblem, ImportFileError, parseConfigFile } from "../../domain/config-file.ts";
import { UsageError } from "../../domain/errors.ts";
import {
  currentConfiguration,
  planChangesNothing,
  planImport,
  writeImportedArgs,
} from "../../ops/transfer.ts";
import { backupBeforeReplace, importRows } from "../../ops/import-apply.ts";
import { readImportText } from "../../ops/import-file.ts";
import { confirmOrCancel } from "../confirm.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import type { Outcome } from "../outcome.ts";
import { createProgress } from "../progress.ts";
import {
  backupErrLine,
  hostUnreadableErrLine,
  IMPORT_DRY_RUN_LINE,
  IMPORT_OFFLINE_LINE,
  importedLine,
  importHostLines,
  importPlanLines,
  importQuestion,
  nothingToImportLine,
  writesFailedErrLine,
} from "../render/import.ts";
import { paint } from "../render/style.ts";
import { claimVms } from "../../ops/vm-claim.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface ImportOptions {
  /** A path, or `-` for stdin. */
  file: string;
  dryRun: boolean;
  replace: boolean;
  yes: boolean;
  offline: boolean;
}

export function parseOptions(input: RawOptions): ImportOptions {
  const raw = input.pick({
    args: "args",
    dryRun: "flag",
    replace: "flag",
    yes: "flag",
    offline: "flag",
  });
  const [file, ...rest] = raw.args;
  if (file === undefined || file === "") {
    throw new UsageError("import needs a FILE written by 'vgpu-admin export' ('-' for stdin)");
  }
  if (rest.length > 0) throw new UsageError("import takes one FILE");
  const opts: ImportOptions = {
    file,
    dryRun: raw.dryRun === true,
    replace: raw.replace === true,
    yes: raw.yes === true,
    offline: raw.offline === true,
  };
  // The confirmation reads its answer from stdin, which the file has used up.
  if (file === "-" && !opts.yes && !opts.dryRun) {
    throw new UsageError(
      "import - reads the file from stdin, so the confirmation cannot be answered there: add --yes (or --dry-run)",
    );
  }
  return opts;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

export async function run(opts: ImportOptions, deps: Deps): Promise<Outcome> {
  const label = opts.file === "-" ? "stdin" : opts.file;
  // VGPU_IMPORT_IDLE_S: tests shorten the wait for a silent pipe (30 s)
  const idle = Number(deps.env.get("VGPU_IMPORT_IDLE_S"));
  const parsed = parseConfigFile(
    await readImportText(opts.file, {
      readLine: () => deps.io.readLine(),
      clock: deps.clock,
      idleMs: idle > 0 ? idle * 1000 : undefined,
    }),
  );
  const mode = opts.replace ? "replace" : "merge";
  const problems = [...parsed.problems];
  const store = parsed.config === null ? null : await deps.store(
    // A dry run on a host with no database yet plans against an empty one, creating nothing.
    opts.dryRun ? { emptyIfMissing: true } : { create: true },
  );
  // pool mode: merge only, online; the pool read afresh; claims and tickets before the database
  const pool = store === null || opts.dryRun
    ? null
    : await (await import("../../ops/pool-bulk.ts")).beginPoolImport(store, opts, deps);
  const plan = store === null
    ? null
    : planImport(currentConfiguration(store), parsed.config!, mode);
  if (plan !== null) problems.push(...plan.conflicts);
  if (problems.length > 0 || store === null || plan === null) {
    writeLines(deps.io.err, problems.map(formatProblem));
    throw new ImportFileError(
      `cannot import ${label}: ${
        plural(problems.length, "problem")
      } (listed above); nothing was changed`,
    );
  }
  const config = parsed.config!;
  const out = deps.io.out;
  if (planChangesNothing(plan)) {
    writeLines(out, [nothingToImportLine(label, plan)]);
    return;
  }
  writeLines(out, importPlanLines(plan, label, config.exportedAt));
  if (opts.dryRun) {
    writeLines(out, [IMPORT_DRY_RUN_LINE]);
    return;
  }
  if (!opts.offline) {
    claimVms(store, deps.locks(), [
      ...plan.added.map((v) => v.vmUuid),
      ...plan.changed.map((c) => c.after.vmUuid),
      ...plan.removed.map((v) => v.vmUuid),
    ]);
  }
  await confirmOrCancel(importQuestion(store.path), opts.yes, deps);
  if (opts.replace) {
    writeLines(deps.io.err, [backupErrLine(await backupBeforeReplace(store, deps.now()))]);
  }
  const progress = createProgress(deps.io, deps.clock);
  const pooled = pool === null ? [] : [...plan.added, ...plan.changed.map((c) => c.after)];
  await pool?.takeForImport(pooled);
  const { applied, removals } = await importRows(store, deps.xe, config, plan, {
    offline: opts.offline,
    progress,
  }).catch(async (e) => {
    await pool?.giveBackAll(pooled);
    throw e;
  });
  writeLines(out, [importedLine(label, applied)]);
  if (applied.added.length + applied.changed.length + applied.removed.length === 0) return;
  if (opts.offline) {
    writeLines(out, [IMPORT_OFFLINE_LINE]);
    return;
  }
  const sets = await writeImportedArgs(store, deps.xe, applied, progress.update, "set")
    .finally(progress.done);
  await pool?.settled(sets);
  if (sets.hostError !== null) {
    writeLines(deps.io.err, [hostUnreadableErrLine(sets.hostError)]);
    return "degraded";
  }
  const report = { hostError: null, writes: [...sets.writes, ...(removals?.writes ?? [])] };
  const key = (await deps.settings()).platformKey;
  writeLines(out, importHostLines(report, paint(deps.io.color), key));
  if (report.writes.some((w) => w.result === "failed")) {
    writeLines(deps.io.err, [writesFailedErrLine(report)]);
    return "degraded";
  }
}

export const command = defineCommand({ parseOptions, run });

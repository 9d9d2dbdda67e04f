import { humanTime } from "../../domain/time.ts";
import {
  formatProblem,
  type ImportConfig,
  ImportFileError,
  parseConfigFile,
} from "../../domain/config-file.ts";
import { ConflictError, OperationFailedError, UsageError } from "../../domain/errors.ts";
import { priorityName, type VgpuConfig } from "../../domain/types.ts";
import {
  applyImport,
  currentConfiguration,
  type HostReport,
  type HostWrite,
  importBackupPath,
  type ImportPlan,
  planChangesNothing,
  planImport,
  writeImportedArgs,
} from "../../ops/transfer.ts";
import { xeCommandLine } from "../../xe/client.ts";
import { confirmOrCancel } from "../confirm.ts";
import type { Deps } from "../deps.ts";
import type { Store } from "../../store/store.ts";
import { writeLines } from "../io.ts";
import type { Outcome } from "../outcome.ts";
import { createProgress } from "../progress.ts";
import { paint } from "../render/style.ts";
import { vmLabel } from "../render/vm-fields.ts";
import { claimVms } from "../../ops/vm-claim.ts";
import { readImportFile } from "../../ops/import-file.ts";
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

async function readText(opts: ImportOptions, deps: Deps): Promise<string> {
  if (opts.file === "-") {
    const lines: string[] = [];
    for (let l = await deps.io.readLine(); l !== null; l = await deps.io.readLine()) lines.push(l);
    return lines.join("\n");
  }
  // VGPU_IMPORT_IDLE_S: tests shorten the wait for a silent pipe (30 s)
  const idle = Number(deps.env.get("VGPU_IMPORT_IDLE_S"));
  return await readImportFile(opts.file, {
    clock: deps.clock,
    idleMs: idle > 0 ? idle * 1000 : undefined,
  });
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const text = (s: string | null) => (s === null ? "(none)" : JSON.stringify(s));
const configText = (c: VgpuConfig) =>
  `vGPU pool ${c.pool}, priority ${priorityName(c.priority)}, VM ID ${c.vmId}`;

function summary(plan: ImportPlan, label: string, config: ImportConfig): string[] {
  const from = config.exportedAt === null ? "" : ` (exported ${humanTime(config.exportedAt)})`;
  const lines = [
    `Import from ${label}${from}, ${
      plan.mode === "replace" ? "replacing the configuration" : "merging"
    }:`,
    `  VMs: ${plan.added.length} to add, ${plan.changed.length} to change, ${plan.unchangedVms} unchanged${
      plan.mode === "replace" ? `, ${plan.removed.length} to remove` : ""
    }`,
    `  vGPU pools: ${plan.pools.length} to change, ${plan.unchangedPools} unchanged`,
    `  settings: ${plan.settings.length} to change, ${plan.unchangedSettings} unchanged`,
  ];
  for (const a of plan.added) lines.push(`  + VM ${a.vmUuid} (${vmLabel(a)}): ${configText(a)}`);
  for (const { before: b, after: a } of plan.changed) {
    const d: string[] = [];
    if (b.pool !== a.pool) d.push(`vGPU pool ${b.pool} -> ${a.pool}`);
    if (b.priority !== a.priority) {
      d.push(`priority ${priorityName(b.priority)} -> ${priorityName(a.priority)}`);
    }
    if (b.vmId !== a.vmId) d.push(`VM ID ${b.vmId} -> ${a.vmId}`);
    if (b.vmName !== a.vmName) d.push(`name ${text(b.vmName)} -> ${text(a.vmName)}`);
    lines.push(`  ~ VM ${a.vmUuid} (${vmLabel(b)}): ${d.join(", ")}`);
  }
  for (const r of plan.removed) lines.push(`  - VM ${r.vmUuid} (${vmLabel(r)}): ${configText(r)}`);
  for (const { before: b, after: a } of plan.pools) {
    const d: string[] = [];
    if (b.name !== a.name) d.push(`name ${text(b.name)} -> ${text(a.name)}`);
    if (b.description !== a.description) {
      d.push(`description ${text(b.description)} -> ${text(a.description)}`);
    }
    if (b.enabled !== a.enabled) d.push(a.enabled ? "enabled" : "disabled");
    lines.push(`  ~ vGPU pool ${b.poolId}: ${d.join(", ")}`);
  }
  for (const s of plan.settings) {
    const v = (x: string | null) => (x === null ? "(default)" : x);
    lines.push(`  ~ setting ${s.key}: ${v(s.before)} -> ${v(s.after)}`);
  }
  return lines;
}

function hostLines(report: HostReport, deps: Deps, key: string): string[] {
  const c = paint(deps.io.color);
  const label = (w: HostWrite) => `VM ${w.vmUuid} (${vmLabel(w)})`;
  const lines: string[] = [];
  for (const w of report.writes) {
    const running = w.powerState !== null && w.powerState !== "halted";
    if (w.result === "not-on-host") {
      lines.push(
        w.action === "set"
          ? `${c.warn("⚠")} ${
            label(w)
          }: not on this host; 'vgpu-admin sync' applies its args when it is`
          : `${c.warn("⚠")} ${label(w)}: not on this host; no args to change`,
      );
    } else if (w.result === "in-sync") {
      lines.push(
        w.action === "set"
          ? `${c.ok("✓")} ${label(w)}: already carries its vgpu-stub args`
          : `${c.ok("✓")} ${label(w)}: carries no vgpu-stub device`,
      );
    } else if (w.result === "wrote") {
      lines.push(
        w.action === "set"
          ? `${c.ok("✓")} ${label(w)}: wrote ${w.argsAfter}${
            running
              ? ` (the VM is ${w.powerState}: it gets these args at its next start; restart it to apply)`
              : ""
          }`
          : `${c.ok("✓")} ${label(w)}: removed its vgpu-stub device${
            running ? ` (the VM is ${w.powerState} and keeps it until its next start)` : ""
          }`,
      );
    } else if (w.action === "set") {
      lines.push(`${c.bad("✗")} ${label(w)}: could not write its args: ${w.error}`);
    } else {
      const fix = w.argsAfter === null
        ? xeCommandLine([
          "vm-param-remove",
          `uuid=${w.vmUuid}`,
          "param-name=platform",
          `param-key=${key}`,
        ])
        : xeCommandLine(["vm-param-set", `uuid=${w.vmUuid}`, `platform:${key}=${w.argsAfter}`]);
      lines.push(
        `${c.bad("✗")} ${label(w)}: could not remove its vgpu-stub device: ${w.error}; ` +
          `it is no longer registered: remove the device by hand (${fix})`,
      );
    }
  }
  return lines;
}

export async function run(opts: ImportOptions, deps: Deps): Promise<Outcome> {
  const label = opts.file === "-" ? "stdin" : opts.file;
  const parsed = parseConfigFile(await readText(opts, deps));
  const mode = opts.replace ? "replace" : "merge";
  const problems = [...parsed.problems];
  const store = parsed.config === null ? null : await deps.store(
    // A dry run on a host with no database yet plans against an empty one, creating nothing.
    opts.dryRun ? { emptyIfMissing: true } : { create: true },
  );
  if (store !== null && !opts.dryRun) {
    (await import("../../ops/pool-write.ts")).refuseInPoolMode(
      store,
      "import",
      "import on a standalone host before 'vgpu-admin pool enable', or register each VM with register-vm",
    );
  }
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
    writeLines(out, [
      `Nothing to import: the database already matches ${label} (${
        plural(plan.unchangedVms, "VM")
      }).`,
    ]);
    return;
  }
  writeLines(out, summary(plan, label, config));
  if (opts.dryRun) {
    out.write("Nothing was changed (--dry-run).\n");
    return;
  }
  if (!opts.offline) {
    claimVms(store, deps.locks(), [
      ...plan.added.map((v) => v.vmUuid),
      ...plan.changed.map((c) => c.after.vmUuid),
      ...plan.removed.map((v) => v.vmUuid),
    ]);
  }
  await confirmOrCancel(`Apply this import to ${store.path}? (yes/no):`, opts.yes, deps);
  if (opts.replace) {
    const backupPath = await store.backupTo(importBackupPath(store.path, deps.now()));
    deps.io.err.write(`Backed up the database to ${backupPath} before replacing it\n`);
  }
  // The devices of the VMs the import removes come out BEFORE their rows go (issue 21 item 2):
  // a crash in between leaves a registered VM without its device (drift that sync repairs),
  // never a freed vm_id that a VM still carries.
  const removals = opts.offline || plan.removed.length === 0
    ? null
    : await takeOutRemoved(store, deps, plan);
  let applied: ImportPlan;
  try {
    applied = applyImport(store, config, plan);
  } catch (e) {
    if (e instanceof ConflictError && removals !== null && wroteAny(removals)) {
      throw new ConflictError(`${e.message}; ${putBackAdvice(removals)}`);
    }
    throw e;
  }
  const vmChanges = applied.added.length + applied.changed.length + applied.removed.length;
  writeLines(out, [
    `Imported ${label}: ${applied.added.length} added, ${applied.changed.length} changed, ${applied.removed.length} removed; ${
      plural(applied.pools.length, "vGPU pool")
    } and ${plural(applied.settings.length, "setting")} changed.`,
  ]);
  if (vmChanges === 0) return;
  if (opts.offline) {
    out.write(
      "Not written to the VMs (--offline): run 'vgpu-admin sync' on the host to apply them.\n",
    );
    return;
  }
  const progress = createProgress(deps.io, deps.clock);
  const sets = await writeImportedArgs(store, deps.xe, applied, progress.update, "set")
    .finally(progress.done);
  if (sets.hostError !== null) {
    deps.io.err.write(
      `error: the host could not be read, so no VM's args were written: ${sets.hostError}; ` +
        `the database keeps the import: run 'vgpu-admin sync' once xe works\n`,
    );
    return "degraded";
  }
  const report = { hostError: null, writes: [...sets.writes, ...(removals?.writes ?? [])] };
  writeLines(out, hostLines(report, deps, (await deps.settings()).platformKey));
  const failed = report.writes.filter((w) => w.result === "failed").length;
  if (failed > 0) {
    deps.io.err.write(
      `error: ${
        plural(failed, "VM")
      } of ${report.writes.length} could not be written (listed above); ` +
        `the database keeps the import: run 'vgpu-admin sync' to write them\n`,
    );
    return "degraded";
  }
}

/** Takes our device out of every VM the import removes; any failure stops the import. */
async function takeOutRemoved(store: Store, deps: Deps, plan: ImportPlan): Promise<HostReport> {
  const progress = createProgress(deps.io, deps.clock);
  const report = await writeImportedArgs(store, deps.xe, plan, progress.update, "remove")
    .finally(progress.done);
  if (report.hostError !== null) {
    throw new OperationFailedError(
      `the host could not be read, so nothing was imported (the VMs the import removes lose their vgpu-stub device first): ${report.hostError}; run the import again once xe works`,
    );
  }
  const failed = report.writes.filter((w) => w.result === "failed");
  if (failed.length > 0) {
    throw new OperationFailedError(
      `the vgpu-stub device of ${
        plural(failed.length, "VM")
      } the import removes could not be taken out (VM ${failed[0].vmUuid}: ${
        failed[0].error
      }), so nothing was imported and no vm_id was freed; ${
        wroteAny(report) ? putBackAdvice(report) : "run the import again once xe works"
      }`,
    );
  }
  return report;
}

function wroteAny(report: HostReport): boolean {
  return report.writes.some((w) => w.result === "wrote");
}

function putBackAdvice(report: HostReport): string {
  const n = report.writes.filter((w) => w.result === "wrote").length;
  return `the device was already taken out of ${
    plural(n, "VM")
  } that stay registered: run 'vgpu-admin sync' to write it back, or run the import again`;
}

export const command = defineCommand({ parseOptions, run });

import { printable } from "../../domain/printable.ts";
import { UsageError } from "../../domain/errors.ts";
import { OperationFailedError } from "../../domain/errors.ts";
import { applySync, countsAsDrift, planSync } from "../../ops/sync.ts";
import { hostError, scan } from "../../ops/scan.ts";
import { xeCommandLine } from "../../xe/client.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import { createProgress } from "../progress.ts";
import type { Outcome } from "../outcome.ts";
import { paint } from "../render/style.ts";
import { vmLabel } from "../render/vm-fields.ts";
import { abandonedEntries, claimVms, interruptedLine } from "../../ops/vm-claim.ts";
import { defineCommand, type RawOptions } from "../command.ts";

export interface SyncOptions {
  check: boolean;
  dryRun: boolean;
}

export function parseOptions(input: RawOptions): SyncOptions {
  const raw = input.pick({ check: "flag", dryRun: "flag" });
  if (raw.check === true && raw.dryRun === true) {
    throw new UsageError("use either --check or --dry-run, not both");
  }
  return { check: raw.check === true, dryRun: raw.dryRun === true };
}

export async function run(opts: SyncOptions, deps: Deps): Promise<Outcome> {
  const store = await deps.store();
  if (!opts.check && !opts.dryRun) {
    (await import("../../ops/pool-write.ts")).refuseInPoolMode(
      store,
      "sync",
      "use 'vgpu-admin pool reconcile', which writes this host's registrations under their tickets",
    );
  }
  const view = await scan({ store, xe: deps.xe, offline: false, localHostUuid: deps.localHost() });
  const host = view.host;
  if (host.kind !== "read") {
    throw new OperationFailedError(`cannot sync: the host could not be read: ${hostError(view)}`);
  }
  const c = paint(deps.io.color);
  const plan = planSync(host);
  const out: string[] = [];
  const label = (uuid: string) => {
    const s = host.drift.byUuid.get(uuid);
    const name = s?.registered ? vmLabel(s.registered) : printable(s?.host?.nameLabel ?? "");
    return `VM ${uuid} (${name})`;
  };
  if (opts.check) {
    const items = host.drift.items.filter(countsAsDrift);
    for (const d of items) {
      out.push(`${c.warn("⚠")} ${label(d.vmUuid)}: ${d.detail} -> fix: ${d.fix}`);
    }
    // An interrupted reconfiguration is drift too: its VM may be stopped or half-changed.
    const open = abandonedEntries(store, deps.locks());
    for (const e of open) out.push(`${c.warn("⚠")} ${interruptedLine(e)}`);
    if (open.length > 0 && items.length === 0) {
      out.push(
        c.warn(
          `⚠ Drift: ${open.length} interrupted operation${
            open.length === 1 ? "" : "s"
          } to recover.`,
        ),
      );
      writeLines(deps.io.out, out);
      return "drift";
    }
    out.push(
      items.length === 0
        ? c.ok(`✓ In sync: ${view.registered.length} registered VMs match the database.`)
        : c.warn(`⚠ Drift: ${items.length} problem${items.length === 1 ? "" : "s"} found.`),
    );
    writeLines(deps.io.out, out);
    return items.length === 0 ? undefined : "drift";
  }
  const key = (await deps.settings()).platformKey;
  if (opts.dryRun) {
    for (const f of plan.fixes) {
      out.push(
        xeCommandLine(["vm-param-set", `uuid=${f.vm.vmUuid}`, `platform:${key}=${f.argsAfter}`]),
      );
    }
    out.push(
      `# ${plan.fixes.length} command${
        plan.fixes.length === 1 ? "" : "s"
      }; nothing was changed (--dry-run).`,
    );
  } else {
    claimVms(store, deps.locks(), plan.fixes.map((f) => f.vm.vmUuid));
    const xe = await deps.xe();
    const progress = createProgress(deps.io, deps.clock);
    const results = await applySync(store, xe, plan.fixes, progress.update)
      .finally(progress.done);
    let failed = 0;
    for (const r of results) {
      if (r.error !== null) {
        failed++;
        out.push(`${c.bad("✗")} ${label(r.fix.vm.vmUuid)}: ${r.error}`);
        continue;
      }
      const running = r.fix.host.powerState !== "halted";
      out.push(
        `${c.ok("✓")} ${label(r.fix.vm.vmUuid)}: wrote ${r.fix.argsAfter}${
          running ? ` (the VM is ${r.fix.host.powerState}: applies at its next start)` : ""
        }`,
      );
    }
    out.push(
      `Synced ${results.length - failed} VM${results.length - failed === 1 ? "" : "s"}${
        failed > 0 ? `; ${failed} failed` : ""
      }.`,
    );
    if (failed > 0) {
      for (const o of plan.others) {
        out.push(`${c.warn("⚠")} ${label(o.vmUuid)}: ${o.detail} -> fix: ${o.fix}`);
      }
      writeLines(deps.io.out, out);
      return "degraded";
    }
  }
  for (const o of plan.others) {
    if (countsAsDrift(o)) {
      out.push(
        `${c.warn("⚠")} not fixed by sync: ${label(o.vmUuid)}: ${o.detail} -> fix: ${o.fix}`,
      );
    }
  }
  writeLines(deps.io.out, out);
}

export const command = defineCommand({ parseOptions, run });

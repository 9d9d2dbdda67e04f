import { UsageError } from "../../domain/errors.ts";
import { OperationFailedError } from "../../domain/errors.ts";
import { countsAsDrift } from "../../domain/drift.ts";
import { applySync, planSync } from "../../ops/sync.ts";
import { hostError, scan } from "../../ops/scan.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import { createProgress } from "../progress.ts";
import type { Outcome } from "../outcome.ts";
import { paint } from "../render/style.ts";
import { syncFailures, syncLines, type SyncView } from "../render/sync.ts";
import { abandonedEntries, claimVms } from "../../ops/vm-claim.ts";
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
  // pool mode: the pool read afresh first; each VM's ticket and vm_id claim before its args
  const pool = opts.check || opts.dryRun ? null : await (await import("../../ops/pool-bulk.ts"))
    .beginPoolBulk({
      store,
      xe: await deps.xe(),
      now: deps.now,
      host: deps.localHost(),
      command: deps.command,
    });
  const view = await scan({ store, xe: deps.xe, offline: false, localHostUuid: deps.localHost() });
  const host = view.host;
  if (host.kind !== "read") {
    throw new OperationFailedError(`cannot sync: the host could not be read: ${hostError(view)}`);
  }
  const plan = planSync(host);
  const print = (v: SyncView) => writeLines(deps.io.out, syncLines(v, paint(deps.io.color)));
  const vms = host.drift.byUuid;
  if (opts.check) {
    const drift = host.drift.items.filter(countsAsDrift);
    const interrupted = abandonedEntries(store, deps.locks());
    print({ kind: "check", drift, interrupted, registered: view.registered.length, vms });
    return drift.length > 0 || interrupted.length > 0 ? "drift" : undefined;
  }
  if (opts.dryRun) {
    const platformKey = (await deps.settings()).platformKey;
    print({ kind: "dry-run", platformKey, fixes: plan.fixes, others: plan.others, vms });
    return;
  }
  claimVms(store, deps.locks(), plan.fixes.map((f) => f.vm.vmUuid));
  const xe = await deps.xe();
  const progress = createProgress(deps.io, deps.clock);
  const results = await applySync(store, xe, plan.fixes, progress.update, pool).finally(
    progress.done,
  );
  const synced: SyncView = { kind: "applied", results, others: plan.others, vms };
  print(synced);
  return syncFailures(synced) > 0 ? "degraded" : undefined;
}

export const command = defineCommand({ parseOptions, run });

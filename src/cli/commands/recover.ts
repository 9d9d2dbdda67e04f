// recover: ends every reconfiguration that a dead process left open (design.md §5 step 10).
import { applyRecovery, claimAbandoned, planRecover } from "../../ops/recover.ts";
import { confirmOrCancel } from "../confirm.ts";
import { resolveVm, type VmRef, vmRefOf } from "../vm-ref.ts";
import { defineCommand, type RawOptions } from "../command.ts";
import type { Deps } from "../deps.ts";
import { writeLines } from "../io.ts";
import type { Outcome } from "../outcome.ts";
import { createProgress } from "../progress.ts";
import {
  nothingToRecoverLine,
  RECOVER_QUESTION,
  recoverPlanLines,
  recoverResultLine,
} from "../render/recover.ts";

export interface RecoverOptions {
  vm?: VmRef;
  yes: boolean;
  /** Pool mode: end the operations of dead hosts from this one (src/cli/pool-recover.ts). */
  takeOver: boolean;
}

export function parseOptions(input: RawOptions): RecoverOptions {
  const raw = input.pick({ yes: "flag", takeOver: "flag" });
  return {
    vm: vmRefOf(input),
    yes: raw.yes === true,
    takeOver: raw.takeOver === true,
  };
}

export async function run(opts: RecoverOptions, deps: Deps): Promise<Outcome> {
  const vmUuid = opts.vm === undefined ? undefined : await resolveVm(opts.vm, deps, "registered");
  if (opts.takeOver) {
    return await (await import("../pool-recover.ts")).runTakeOver({ ...opts, vmUuid }, deps);
  }
  const store = await deps.store();
  // One database read when nothing is open: no xe call, no lock.
  let entries = claimAbandoned(store, deps.locks(), vmUuid);
  const out = deps.io.out;
  if (entries.length === 0) {
    writeLines(out, [nothingToRecoverLine(vmUuid)]);
    return;
  }
  const xe = await deps.xe();
  // pool mode: entries another host took over are closed; standalone: none
  const pool = await import("../pool-recover.ts");
  entries = await pool.withoutTakenOver(store, xe, entries, deps);
  if (entries.length === 0) return;
  const items = await planRecover(store, xe, entries, deps.clock);
  writeLines(out, recoverPlanLines(items));
  await confirmOrCancel(RECOVER_QUESTION, opts.yes, deps);
  const settings = await deps.settings();
  const progress = createProgress(deps.io, deps.clock);
  let failed = 0;
  await deps.interrupts.guard(async () => {
    for (const it of items) {
      const r = await applyRecovery(store, xe, it, {
        settleMs: settings.shutdownTimeoutS * 1000,
        startTimeoutMs: settings.startTimeoutS * 1000,
        localHost: deps.localHost(),
        progress: progress.step,
        clock: deps.clock,
      }).finally(progress.done);
      const line = recoverResultLine(r);
      if ("out" in line) writeLines(out, [line.out]);
      else {
        failed++;
        writeLines(deps.io.err, [line.err]);
      }
    }
  });
  await pool.settlePool(store, xe, items.map((it) => it.entry.vmUuid), deps);
  return failed > 0 ? "degraded" : undefined;
}

export const command = defineCommand({ parseOptions, run });

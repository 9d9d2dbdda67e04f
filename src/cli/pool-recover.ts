// `recover` in pool mode (design.md §8): the take-over of a dead host's operations
// (`recover --take-over`), and the pool-wide steps around this host's own recover. Standalone:
// none of this runs (no xe call is added).
import type { JournalEntry } from "../domain/journal.ts";
import { readPoolState } from "../store/pool-cache.ts";
import type { Store } from "../store/store.ts";
import type { Xe } from "../xe/client.ts";
import { closeTakenOver, settleAfterRecover } from "../ops/pool-takeover.ts";
import { confirmOrCancel } from "./confirm.ts";
import type { Deps } from "./deps.ts";
import { writeLines } from "./io.ts";
import type { Outcome } from "./outcome.ts";
import {
  settleWarning,
  takenOverLine,
  takeoverDoneLine,
  takeoverPlanLines,
} from "./render/pool-takeover.ts";

/** This host's open entries minus those another host took over (closed here, and said so). */
export async function withoutTakenOver(
  store: Store,
  xe: Xe,
  entries: JournalEntry[],
  deps: Deps,
): Promise<JournalEntry[]> {
  if (readPoolState(store) === null) return entries;
  const closed = await closeTakenOver(store, xe, entries, deps.localHost());
  writeLines(deps.io.out, closed.map(takenOverLine));
  return entries.filter((e) => !closed.includes(e));
}

/** After recover: the dead processes' tickets go, claims the VMs no longer use are released. */
export async function settlePool(
  store: Store,
  xe: Xe,
  vmUuids: string[],
  deps: Deps,
): Promise<void> {
  if (readPoolState(store) === null) return;
  try {
    await settleAfterRecover(store, xe, vmUuids, deps.localHost());
  } catch (e) {
    writeLines(deps.io.err, [settleWarning(e instanceof Error ? e.message : String(e))]);
  }
}

/** `recover --take-over [--vm-uuid=U] [--yes]`. */
export async function runTakeOver(
  opts: { vmUuid?: string; yes: boolean },
  deps: Deps,
): Promise<Outcome> {
  const { planTakeover, applyTakeover } = await import("../ops/pool-takeover.ts");
  const store = await deps.store();
  const xe = await deps.xe();
  const { plan, xp } = await planTakeover(store, xe, deps.localHost(), opts.vmUuid);
  const out = deps.io.out;
  writeLines(out, takeoverPlanLines(plan));
  if (plan.items.length === 0) return;
  await confirmOrCancel("Do you want to take over these operations? (yes/no):", opts.yes, deps);
  const settings = await deps.settings();
  const problems = await applyTakeover(store, xe, xp, plan, {
    locks: deps.locks(),
    localHost: deps.localHost(),
    command: deps.command,
    now: deps.now,
    startTimeoutMs: settings.startTimeoutS * 1000,
  });
  for (const p of problems) deps.io.err.write(`error: ${p}\n`);
  writeLines(out, [takeoverDoneLine(plan.items.length - problems.length, plan.items.length)]);
  return problems.length > 0 ? "degraded" : undefined;
}
